//go:build purego || !(amd64 || arm64)

package rawws

// maskPurego reports that no assembly routine is built in.
const maskPurego = true

var maskImpls = []maskImpl{
	{name: "generic", supported: true, mask: maskGenericPos},
}

func maskFast(key [4]byte, pos int, b []byte) int { return maskGenericPos(key, pos, b) }
