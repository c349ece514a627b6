// zlib, for reading gzipped MNIST IDX files.
#ifndef SWIFT_TRAIN_CZLIB_SHIM_H
#define SWIFT_TRAIN_CZLIB_SHIM_H
#include <zlib.h>
#endif
