//go:build !unix

package main

func fileLimit() uint64 { return 0 }
