#!/usr/bin/env bash
# Builds .build-fuzz/swiftlet-fuzz: the Swiftlet library and Fuzz/Targets compiled as one module
# with coverage instrumentation for libFuzzer and AddressSanitizer (swiftc -sanitize=fuzzer,address;
# the runtime ships with the Swift toolchain under usr/lib/swift/clang/lib/linux/). C shims are
# compiled with clang's -fsanitize=fuzzer-no-link,address. Bounds and overflow checks stay on (-O).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=$root/.build-fuzz
mkdir -p "$build/modules/CSentencePiece" "$build/modules/CSpinWait" "$build/modules/CBF16Kernels" "$build/modules/CParallel" "$build/modules/CQuantKernels"
# Module maps SwiftPM would generate for the C targets.
printf 'module CSentencePiece {\n  header "%s"\n  export *\n}\n' "$root/Sources/CSentencePiece/include/CSentencePiece.h" \
  >"$build/modules/CSentencePiece/module.modulemap"
printf 'module CSpinWait {\n  header "%s"\n  export *\n}\n' "$root/Sources/CSpinWait/include/CSpinWait.h" \
  >"$build/modules/CSpinWait/module.modulemap"
printf 'module CBF16Kernels {\n  header "%s"\n  export *\n}\n' "$root/Sources/CBF16Kernels/include/bf16_kernels.h" \
  >"$build/modules/CBF16Kernels/module.modulemap"
printf 'module CParallel {\n  header "%s"\n  export *\n}\n' "$root/Sources/CParallel/include/CParallel.h" \
  >"$build/modules/CParallel/module.modulemap"
printf 'module CQuantKernels {\n  header "%s"\n  header "%s"\n  header "%s"\n  export *\n}\n' "$root/Sources/CQuantKernels/include/quant_kernels.h" \
  "$root/Sources/CQuantKernels/include/kquant_kernels.h" "$root/Sources/CQuantKernels/include/half_attention.h" \
  >"$build/modules/CQuantKernels/module.modulemap"
swift_dir=$(dirname "$(dirname "$(readlink -f "$(command -v swiftc)")")")
clang=$swift_dir/bin/clang
sanitize=(-fsanitize=fuzzer-no-link,address)
"$clang" -O1 -g "${sanitize[@]}" -c "$root/Sources/CSpinWait/spin_wait.c" -I "$root/Sources/CSpinWait/include" -o "$build/spin_wait.o"
"$clang" -O1 -g "${sanitize[@]}" -c "$root/Sources/CBF16Kernels/bf16_kernels.c" -I "$root/Sources/CBF16Kernels/include" -o "$build/bf16_kernels.o"
"$clang" -O1 -g "${sanitize[@]}" -c "$root/Sources/CQuantKernels/quant_kernels.c" -I "$root/Sources/CQuantKernels/include" -o "$build/quant_kernels.o"
"$clang" -O1 -g "${sanitize[@]}" -c "$root/Sources/CQuantKernels/kquant_kernels.c" -I "$root/Sources/CQuantKernels/include" -o "$build/kquant_kernels.o"
"$clang" -O1 -g "${sanitize[@]}" -c "$root/Sources/CQuantKernels/half_attention.c" -I "$root/Sources/CQuantKernels/include" -o "$build/half_attention.o"
"$clang" -O1 -g "${sanitize[@]}" -c "$root/Sources/CQuantKernels/quant_tiles.c" -I "$root/Sources/CQuantKernels/include" -o "$build/quant_tiles.o"
for source in openmpi openmp affinity; do
  "$clang" -O1 -g "${sanitize[@]}" -c "$root/Sources/CParallel/$source.c" -I "$root/Sources/CParallel/include" -o "$build/$source.o"
done
"$clang++" -O1 -g -std=c++17 "${sanitize[@]}" -c "$root/Sources/CSentencePiece/shim.cpp" -I "$root/Sources/CSentencePiece/include" -o "$build/shim.o"
# The git commit of the build, as the BuildInfo plugin writes it for SwiftPM.
sh "$root/scripts/build-info.sh" "$build/generated/BuildCommit.swift"
mapfile -t sources < <(find "$root/Sources/Swiftlet" "$root/Fuzz/Targets" "$build/generated" -name '*.swift' | sort)
swiftc -O -g -sanitize=fuzzer,address -parse-as-library -module-name Swiftlet -target-cpu native -enforce-exclusivity=unchecked \
  -I "$build/modules/CSentencePiece" -I "$build/modules/CSpinWait" -I "$build/modules/CBF16Kernels" -I "$build/modules/CParallel" -I "$build/modules/CQuantKernels" -I "$root/Sources/CDNNL" \
  "${sources[@]}" "$build/spin_wait.o" "$build/bf16_kernels.o" "$build/quant_kernels.o" "$build/kquant_kernels.o" "$build/half_attention.o" "$build/quant_tiles.o" "$build/openmpi.o" "$build/openmp.o" "$build/affinity.o" "$build/shim.o" \
  -lsentencepiece -lsentencepiece_train -ldnnl -lstdc++ -o "$build/swiftlet-fuzz" 2> >(grep -v "Cannot export local symbol" >&2)
echo "built $build/swiftlet-fuzz"
