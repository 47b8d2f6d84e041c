// Umbrella header: the whole public API of relgeo.
#pragma once

#include "relgeo/alignment.h"
#include "relgeo/anchors.h"
#include "relgeo/autoencoder.h"
#include "relgeo/database.h"
#include "relgeo/datasets.h"
#include "relgeo/eval.h"
#include "relgeo/matrix.h"
#include "relgeo/metric_map.h"
#include "relgeo/mrr.h"
#include "relgeo/npy.h"
#include "relgeo/plot.h"
#include "relgeo/relative_encoder.h"
#include "relgeo/status.h"
#include "relgeo/threads.h"
