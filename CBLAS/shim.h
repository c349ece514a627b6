// OpenBLAS's CBLAS interface (Debian installs cblas.h under openblas-pthread/, found through pkg-config).
#ifndef SWIFT_TRAIN_CBLAS_SHIM_H
#define SWIFT_TRAIN_CBLAS_SHIM_H
#include <cblas.h>
#endif
