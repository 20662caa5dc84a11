package rawws

//go:generate go run ./gen -root .
