# Finds LibTorch (docs/design.md §3.4).
#  RELGEO_TORCH=venv   the LibTorch inside the PyTorch wheel in .venv/ (tools/setup.sh
#                      installs a pinned torch there), so that relgeo can live in the
#                      same Python process as the user's torch. RELGEO_PYTHON names the
#                      interpreter (default: .venv/bin/python at the repository root).
#  RELGEO_TORCH=system Debian's libtorch-dev (LibTorch 1.13).
# What TorchConfig caches: forgotten when it points into the other LibTorch.
set(_relgeo_torch_cache_vars Torch_DIR Caffe2_DIR TORCH_LIBRARY c10_LIBRARY C10_CUDA_LIBRARY CAFFE2_NVRTC_LIBRARY
    kineto_LIBRARY)
if(RELGEO_TORCH STREQUAL "venv")
  set(_relgeo_default_python "${PROJECT_SOURCE_DIR}/.venv/bin/python")
  if(SKBUILD AND Python_EXECUTABLE)  # pip install .: the interpreter pip runs
    set(_relgeo_default_python "${Python_EXECUTABLE}")
  endif()
  set(RELGEO_PYTHON "${_relgeo_default_python}" CACHE FILEPATH "Python whose torch relgeo builds against")
  if(NOT EXISTS "${RELGEO_PYTHON}")
    message(FATAL_ERROR "RELGEO_TORCH=venv needs ${RELGEO_PYTHON} with torch installed: run tools/setup.sh "
                        "(or pass -DRELGEO_PYTHON=/path/to/python, or -DRELGEO_TORCH=system for Debian's libtorch-dev)")
  endif()
  execute_process(
    COMMAND "${RELGEO_PYTHON}" -c "import os, torch; print(os.path.dirname(torch.__file__))"
    OUTPUT_VARIABLE RELGEO_TORCH_ROOT OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _relgeo_py_rc)
  if(NOT _relgeo_py_rc EQUAL 0 OR NOT EXISTS "${RELGEO_TORCH_ROOT}/share/cmake/Torch")
    message(FATAL_ERROR "${RELGEO_PYTHON} has no usable torch: run tools/setup.sh, or -DRELGEO_TORCH=system")
  endif()
  # Only the wheel's LibTorch, never Debian's: both are named Torch/Caffe2/torch/c10, and
  # TorchConfig's find_library calls search the system directories before its own, so
  # the wheel's prefix goes first (as torch.utils.cmake_prefix_path advises), and what
  # an earlier configure with the other LibTorch cached is forgotten.
  list(PREPEND CMAKE_PREFIX_PATH "${RELGEO_TORCH_ROOT}" "${RELGEO_TORCH_ROOT}/share/cmake")
  foreach(var ${_relgeo_torch_cache_vars})
    if(DEFINED CACHE{${var}} AND NOT "${${var}}" MATCHES "^${RELGEO_TORCH_ROOT}")
      unset(${var} CACHE)
    endif()
  endforeach()
  find_package(Torch REQUIRED CONFIG PATHS "${RELGEO_TORCH_ROOT}/share/cmake/Torch" NO_DEFAULT_PATH)
  # libtorch_cuda.so needs the wheel's own CUDA libraries (nvidia/*/lib, found at run
  # time through the wheel's RPATH); the linker must see them too, or it takes the
  # CUDA toolkit's older NCCL and fails on missing symbols.
  get_filename_component(_relgeo_site "${RELGEO_TORCH_ROOT}" DIRECTORY)
  file(GLOB _relgeo_nv_libs LIST_DIRECTORIES true "${_relgeo_site}/nvidia/*/lib" "${_relgeo_site}/nvidia/cu*/lib")
  # (relgeo's INTERFACE link options, so an installed relgeo's consumers get them too.)
  set(RELGEO_TORCH_LINK_OPTIONS "")
  foreach(dir ${_relgeo_nv_libs})
    list(APPEND RELGEO_TORCH_LINK_OPTIONS "LINKER:-rpath-link,${dir}")
  endforeach()
  set(RELGEO_TORCH_LIB_DIR "${RELGEO_TORCH_ROOT}/lib")
  # One OpenMP runtime per process: the wheel ships its own libgomp.so.1 (same soname
  # as the system's), which its RPATH loads; link FAISS's OpenMP against that one too.
  if(EXISTS "${RELGEO_TORCH_LIB_DIR}/libgomp.so.1" AND TARGET OpenMP::OpenMP_CXX)
    set_property(TARGET OpenMP::OpenMP_CXX PROPERTY INTERFACE_LINK_LIBRARIES "${RELGEO_TORCH_LIB_DIR}/libgomp.so.1")
  endif()
elseif(RELGEO_TORCH STREQUAL "system")
  foreach(var ${_relgeo_torch_cache_vars})
    if(DEFINED CACHE{${var}} AND "${${var}}" MATCHES "site-packages")
      unset(${var} CACHE)
    endif()
  endforeach()
  find_package(Torch REQUIRED)
else()
  message(FATAL_ERROR "RELGEO_TORCH must be venv or system, not '${RELGEO_TORCH}'")
endif()
message(STATUS "relgeo: LibTorch ${Torch_VERSION} (${RELGEO_TORCH}) from ${Torch_DIR}")
