//go:build !purego

#include "textflag.h"

// func maskNEON(p *byte, n int, key uint64)
//
// R0 read cursor, R3 write cursor, R1 bytes left, R2 the key repeated twice,
// V0 the key in all lanes. Steps of 64, 16, 8 and 4 bytes leave the key
// phase unchanged; only the last 1-3 bytes shift it.
TEXT ·maskNEON(SB), NOSPLIT, $0-24
	MOVD p+0(FP), R0
	MOVD n+8(FP), R1
	MOVD key+16(FP), R2
	CMP  $16, R1
	BLT  tail8
	VDUP R2, V0.D2
	CMP  $64, R1
	BLT  loop16
	MOVD R0, R3

loop64:
	VLD1.P 64(R0), [V1.B16, V2.B16, V3.B16, V4.B16]
	VEOR   V0.B16, V1.B16, V1.B16
	VEOR   V0.B16, V2.B16, V2.B16
	VEOR   V0.B16, V3.B16, V3.B16
	VEOR   V0.B16, V4.B16, V4.B16
	VST1.P [V1.B16, V2.B16, V3.B16, V4.B16], 64(R3)
	SUB    $64, R1
	CMP    $64, R1
	BGE    loop64
	CMP    $16, R1
	BLT    tail8

loop16:
	VLD1   (R0), [V1.B16]
	VEOR   V0.B16, V1.B16, V1.B16
	VST1.P [V1.B16], 16(R0)
	SUB    $16, R1
	CMP    $16, R1
	BGE    loop16

tail8:
	// At most 15 bytes are left.
	CMP    $8, R1
	BLT    tail4
	MOVD   (R0), R4
	EOR    R2, R4
	MOVD.P R4, 8(R0)
	SUB    $8, R1

tail4:
	CMP    $4, R1
	BLT    tail1
	MOVWU  (R0), R4
	EORW   R2, R4
	MOVW.P R4, 4(R0)
	SUB    $4, R1

tail1:
	CBZ    R1, done
	MOVBU  (R0), R4
	EOR    R2, R4
	MOVB.P R4, 1(R0)
	LSR    $8, R2
	SUB    $1, R1
	B      tail1

done:
	RET
