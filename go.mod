module github.com/rawws/rawws

go 1.26.0

require (
	github.com/cloudwego/netpoll v0.7.2
	github.com/klauspost/cpuid/v2 v2.4.2
	golang.org/x/sys v0.50.0
)

require (
	github.com/bytedance/gopkg v0.1.1 // indirect
	github.com/cloudwego/gopkg v0.1.4 // indirect
	github.com/stretchr/testify v1.12.1 // indirect
)
