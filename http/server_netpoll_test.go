package http

// The server tests also run on the netpoll backend (Linux; elsewhere the
// package registers nothing and only std runs).
import _ "github.com/rawws/rawws/poller/netpoll"
