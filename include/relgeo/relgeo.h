// Umbrella header: the whole public API of relgeo.
#pragma once

#include "relgeo/autoencoder.h"
#include "relgeo/datasets.h"
#include "relgeo/matrix.h"
#include "relgeo/metric_map.h"
#include "relgeo/npy.h"
#include "relgeo/relative_encoder.h"
#include "relgeo/status.h"
#include "relgeo/threads.h"
