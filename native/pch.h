// Precompiled header for every translation unit that uses LibTorch: parsing these headers is most
// of the cost of each file, so CMake compiles them once (target_precompile_headers).
#pragma once
#include <torch/torch.h>
#include <napi.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>
