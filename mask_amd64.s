//go:build !purego

#include "textflag.h"

#define maskLevelAVX2 2
#define maskLevelAVX512 3

// Register use:
//   DI  start of the payload        SI  its length n
//   AX  key, repeated twice, for offset 0 (already rotated for pos)
//   DX  key rotated for some other offset
//   R11 aligned cursor              R12 bytes left from R11 to the end
//
// The key for a load at offset j is the offset-0 key rotated right by
// 8*(j&3) bits; as the 64-bit key repeats every 32 bits, one RORQ does it,
// and a broadcast of the rotated word gives the vector key.
//
// Paths by length (all levels share the first two):
//   n < 16         two overlapping words (8 or 4 bytes) or single bytes
//   16 <= n <= 32  two overlapping 16-byte vectors
//   n <= 64        two overlapping 32-byte vectors (AVX2, AVX-512)
//   n <= 128       two overlapping 64-byte vectors (AVX-512)
//   longer         a main loop over aligned vectors, four per step
// Overlapping pieces are all loaded before any is stored, so the bytes they
// share get the same, correctly masked value twice, never a double XOR.
//
// The SSE2 and AVX2 main paths treat the unaligned head and tail the same
// way: load and mask the first and the last vector of the payload, run the
// aligned loop, then store those two. AVX-512 instead masks the partial first
// and last cache lines with masked loads and stores of the aligned lines, so
// the next load of those bytes is not a store-forwarding miss from a store
// split across two lines (measured: 39 -> 29 ns for 4 KiB one byte off).
//
// The AVX paths move the key into vector registers with VEX or EVEX
// instructions only: one legacy-SSE MOVQ into X0 after a VEX instruction cost
// about 300 ns a call on this (virtual) machine. VZEROUPPER ends each.

// ROTKEY sets DX to AX rotated for offset reg; it clobbers CX.
#define ROTKEY(reg) \
	MOVQ reg, CX \
	ANDQ $3, CX \
	SHLQ $3, CX \
	MOVQ AX, DX \
	RORQ CX, DX

// func maskAsm(p *byte, n int, key uint32, pos int, level int) (next int)
TEXT ·maskAsm(SB), NOSPLIT, $0-48
	MOVQ p+0(FP), DI
	MOVQ n+8(FP), SI
	MOVL key+16(FP), AX
	MOVQ pos+24(FP), CX
	LEAQ (CX)(SI*1), DX
	ANDQ $3, DX
	MOVQ DX, next+40(FP)
	ANDQ $3, CX
	SHLQ $3, CX
	RORL CX, AX
	MOVQ AX, DX
	SHLQ $32, DX
	ORQ  DX, AX
	CMPQ SI, $16
	JB   small
	CMPQ SI, $32
	JBE  two16
	MOVQ level+32(FP), BX
	CMPQ BX, $maskLevelAVX2
	JB   sse2
	CMPQ SI, $64
	JBE  two32
	CMPQ BX, $maskLevelAVX512
	JB   avx2
	CMPQ SI, $128
	JBE  two64
	JMP  avx512

sse2:
	// 32 < n. Head and tail vectors first.
	MOVQ       AX, X0
	PUNPCKLQDQ X0, X0
	MOVOU      (DI), X1
	PXOR       X0, X1
	MOVQ       SI, R8
	ROTKEY(R8)
	MOVQ       DX, X2
	PUNPCKLQDQ X2, X2
	MOVOU      -16(DI)(SI*1), X3
	PXOR       X2, X3

	// R11 = first 16-byte boundary after DI, the key rotated for it.
	MOVQ       DI, R8
	NEGQ       R8
	ANDQ       $15, R8
	LEAQ       (DI)(R8*1), R11
	MOVQ       SI, R12
	SUBQ       R8, R12
	ROTKEY(R8)
	MOVQ       DX, X0
	PUNPCKLQDQ X0, X0
	CMPQ       R12, $64
	JB         sse2_16

sse2_64:
	MOVO  (R11), X4
	MOVO  16(R11), X5
	MOVO  32(R11), X6
	MOVO  48(R11), X7
	PXOR  X0, X4
	PXOR  X0, X5
	PXOR  X0, X6
	PXOR  X0, X7
	MOVO  X4, (R11)
	MOVO  X5, 16(R11)
	MOVO  X6, 32(R11)
	MOVO  X7, 48(R11)
	ADDQ  $64, R11
	SUBQ  $64, R12
	CMPQ  R12, $64
	JAE   sse2_64

sse2_16:
	CMPQ R12, $16
	JB   sse2_done
	MOVO (R11), X4
	PXOR X0, X4
	MOVO X4, (R11)
	ADDQ $16, R11
	SUBQ $16, R12
	JMP  sse2_16

sse2_done:
	MOVOU X1, (DI)
	MOVOU X3, -16(DI)(SI*1)
	RET

avx2:
	// 64 < n.
	VMOVQ        AX, X0
	VPBROADCASTQ X0, Y0
	VPXOR        (DI), Y0, Y1
	MOVQ         SI, R8
	ROTKEY(R8)
	VMOVQ        DX, X2
	VPBROADCASTQ X2, Y2
	VPXOR        -32(DI)(SI*1), Y2, Y3

	MOVQ         DI, R8
	NEGQ         R8
	ANDQ         $31, R8
	LEAQ         (DI)(R8*1), R11
	MOVQ         SI, R12
	SUBQ         R8, R12
	ROTKEY(R8)
	VMOVQ        DX, X0
	VPBROADCASTQ X0, Y0
	CMPQ         R12, $128
	JB           avx2_32

avx2_128:
	VPXOR   (R11), Y0, Y4
	VPXOR   32(R11), Y0, Y5
	VPXOR   64(R11), Y0, Y6
	VPXOR   96(R11), Y0, Y7
	VMOVDQA Y4, (R11)
	VMOVDQA Y5, 32(R11)
	VMOVDQA Y6, 64(R11)
	VMOVDQA Y7, 96(R11)
	ADDQ    $128, R11
	SUBQ    $128, R12
	CMPQ    R12, $128
	JAE     avx2_128

avx2_32:
	CMPQ    R12, $32
	JB      avx2_done
	VPXOR   (R11), Y0, Y4
	VMOVDQA Y4, (R11)
	ADDQ    $32, R11
	SUBQ    $32, R12
	JMP     avx2_32

avx2_done:
	VMOVDQU Y1, (DI)
	VMOVDQU Y3, -32(DI)(SI*1)
	VZEROUPPER
	RET

avx512:
	// 128 < n. The partial first and last cache lines go through masked
	// loads and stores of the aligned lines that hold them, so every access
	// is aligned and no byte is touched twice. Being a multiple of 64 bytes
	// away, they all use the main loop's key.
	MOVQ         DI, R8
	NEGQ         R8
	ANDQ         $63, R8
	LEAQ         (DI)(R8*1), R11
	MOVQ         SI, R12
	SUBQ         R8, R12
	ROTKEY(R8)
	VPBROADCASTQ DX, Z0
	TESTQ        R8, R8
	JZ           avx512_main

	// Head: the last R8 bytes of the line before R11.
	MOVQ       $64, CX
	SUBQ       R8, CX
	MOVQ       $-1, R9
	SHLQ       CX, R9
	KMOVQ      R9, K1
	VMOVDQU8.Z -64(R11), K1, Z1
	VPXORQ     Z0, Z1, Z1
	VMOVDQU8   Z1, K1, -64(R11)

avx512_main:
	CMPQ R12, $256
	JB   avx512_64

avx512_256:
	// Measured: the L2 prefetchers alone leave 5% on the table at 64 KiB
	// and 1 MiB; prefetching past the end is harmless.
	PREFETCHT0 1024(R11)
	PREFETCHT0 1088(R11)
	PREFETCHT0 1152(R11)
	PREFETCHT0 1216(R11)
	VPXORQ    (R11), Z0, Z4
	VPXORQ    64(R11), Z0, Z5
	VPXORQ    128(R11), Z0, Z6
	VPXORQ    192(R11), Z0, Z7
	VMOVDQA64 Z4, (R11)
	VMOVDQA64 Z5, 64(R11)
	VMOVDQA64 Z6, 128(R11)
	VMOVDQA64 Z7, 192(R11)
	ADDQ      $256, R11
	SUBQ      $256, R12
	CMPQ      R12, $256
	JAE       avx512_256

avx512_64:
	CMPQ      R12, $64
	JB        avx512_tail
	VPXORQ    (R11), Z0, Z4
	VMOVDQA64 Z4, (R11)
	ADDQ      $64, R11
	SUBQ      $64, R12
	JMP       avx512_64

avx512_tail:
	// Tail: the first R12 (< 64) bytes of the line at R11.
	TESTQ      R12, R12
	JZ         avx512_done
	MOVQ       R12, CX
	MOVQ       $1, R9
	SHLQ       CX, R9
	DECQ       R9
	KMOVQ      R9, K1
	VMOVDQU8.Z (R11), K1, Z1
	VPXORQ     Z0, Z1, Z1
	VMOVDQU8   Z1, K1, (R11)

avx512_done:
	VZEROUPPER
	RET

two16:
	// 16 <= n <= 32: the head and tail vectors cover it all.
	MOVQ       AX, X0
	PUNPCKLQDQ X0, X0
	MOVOU      (DI), X1
	PXOR       X0, X1
	MOVQ       SI, R8
	ROTKEY(R8)
	MOVQ       DX, X2
	PUNPCKLQDQ X2, X2
	MOVOU      -16(DI)(SI*1), X3
	PXOR       X2, X3
	MOVOU      X1, (DI)
	MOVOU      X3, -16(DI)(SI*1)
	RET

two32:
	// 32 < n <= 64.
	VMOVQ        AX, X0
	VPBROADCASTQ X0, Y0
	VPXOR        (DI), Y0, Y1
	MOVQ         SI, R8
	ROTKEY(R8)
	VMOVQ        DX, X2
	VPBROADCASTQ X2, Y2
	VPXOR        -32(DI)(SI*1), Y2, Y3
	VMOVDQU      Y1, (DI)
	VMOVDQU      Y3, -32(DI)(SI*1)
	VZEROUPPER
	RET

two64:
	// 64 < n <= 128.
	VPBROADCASTQ AX, Z0
	VPXORQ       (DI), Z0, Z1
	MOVQ         SI, R8
	ROTKEY(R8)
	VPBROADCASTQ DX, Z2
	VPXORQ       -64(DI)(SI*1), Z2, Z3
	VMOVDQU64    Z1, (DI)
	VMOVDQU64    Z3, -64(DI)(SI*1)
	VZEROUPPER
	RET

small:
	// n < 16: two overlapping words (or bytes), both loaded before either
	// is stored, for every level.
	CMPQ SI, $8
	JB   small4
	MOVQ (DI), R9
	MOVQ -8(DI)(SI*1), R10
	MOVQ SI, R8
	ROTKEY(R8)
	XORQ AX, R9
	XORQ DX, R10
	MOVQ R9, (DI)
	MOVQ R10, -8(DI)(SI*1)
	RET

small4:
	CMPQ SI, $4
	JB   small1
	MOVL (DI), R9
	MOVL -4(DI)(SI*1), R10
	MOVQ SI, R8
	ROTKEY(R8)
	XORL AX, R9
	XORL DX, R10
	MOVL R9, (DI)
	MOVL R10, -4(DI)(SI*1)
	RET

small1:
	TESTQ SI, SI
	JZ    done
	XORB  AL, (DI)
	CMPQ  SI, $2
	JB    done
	SHRQ  $8, AX
	XORB  AL, 1(DI)
	CMPQ  SI, $3
	JB    done
	SHRQ  $8, AX
	XORB  AL, 2(DI)

done:
	RET
