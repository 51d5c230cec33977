;; Dot products for the embedded vector index, with 128-bit SIMD (four f32 lanes).
;; Assembled into src/stores/vectors/simd-dot.ts (test/unit/simd-dot.test.ts checks the
;; bytes there are this file's).
(module
  (memory (export "memory") 1)
  ;; The dot product of the `floats` f32 at byte offsets $a and $b. `floats` is a multiple
  ;; of 8 and both offsets are 16-byte aligned: eight lanes per step in two accumulators.
  (func (export "dot") (param $a i32) (param $b i32) (param $floats i32) (result f32)
    (local $sum v128) (local $sum2 v128) (local $end i32)
    (local.set $end (i32.add (local.get $a) (i32.shl (local.get $floats) (i32.const 2))))
    (block $done
      (loop $step
        (br_if $done (i32.ge_u (local.get $a) (local.get $end)))
        (local.set $sum (f32x4.add (local.get $sum)
          (f32x4.mul (v128.load (local.get $a)) (v128.load (local.get $b)))))
        (local.set $sum2 (f32x4.add (local.get $sum2)
          (f32x4.mul (v128.load offset=16 (local.get $a)) (v128.load offset=16 (local.get $b)))))
        (local.set $a (i32.add (local.get $a) (i32.const 32)))
        (local.set $b (i32.add (local.get $b) (i32.const 32)))
        (br $step)))
    (local.set $sum (f32x4.add (local.get $sum) (local.get $sum2)))
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $sum)) (f32x4.extract_lane 1 (local.get $sum)))
      (f32.add (f32x4.extract_lane 2 (local.get $sum)) (f32x4.extract_lane 3 (local.get $sum)))))
)
