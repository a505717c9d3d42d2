#!/usr/bin/env bash
# Builds the Boost.Context fcontext shim, the example backend library of include/switchyard.h
# (shims/boost-fcontext/), into target/shims/boost-fcontext.so, installing what it needs
# first when it is missing: a C++ compiler, make and Boost.Context (libboost-context-dev).
#
#   ci/boost.sh            # then: switchyard fuzz --backend-lib target/shims/boost-fcontext.so
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v c++ >/dev/null || ! command -v make >/dev/null ||
   [ ! -e /usr/include/boost/context/detail/fcontext.hpp ]; then
  echo "== apt-get install g++ make libboost-context-dev"
  sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q g++ make libboost-context-dev >/dev/null
fi

make -s -C shims/boost-fcontext
echo "target/shims/boost-fcontext.so"
