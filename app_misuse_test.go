package rawws_test

import (
	"strings"
	"testing"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/frame"
)

// A route without a handler stays a panic, raised by the registration
// itself (a programmer error at setup, like net/http's nil handler), also
// when routes are added to a running server; the routes already there keep
// serving and the bad one is not registered.
func TestAppRouteWithoutHandlerPanicsAtRegistration(t *testing.T) {
	var app *rawws.App
	srv, err := rawws.NewServer(func(a *rawws.App) {
		app = a
		a.WebSocket("/ok", rawws.Options{MessageHandler: echoMessages})
	}, rawws.WithBackend("std"))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ln := listenLocal(t)
	go srv.Serve(ln)
	addr := ln.Addr().String()
	for name, register := range map[string]func(){
		"WebSocket": func() { app.WebSocket("/bad", rawws.Options{}) },
		"Channel":   func() { app.Channel("/bad", nil) },
		"Endpoint":  func() { app.Endpoint("/bad", rawws.Endpoint{Protocols: []string{"x"}}) },
	} {
		func() {
			defer func() {
				r := recover()
				if msg, _ := r.(string); !strings.Contains(msg, "/bad") {
					t.Errorf("%s without a handler: recovered %v, want a panic naming the route", name, r)
				}
			}()
			register()
		}()
	}
	if status, _ := httpGet(t, addr, "/bad", ""); !strings.Contains(status, " 404 ") {
		t.Fatalf("the refused route answers %q, want 404", status)
	}
	c := dialWS(t, addr, "/ok", nil)
	c.send(t, frame.OpText, []byte("still serving"))
	c.expect(t, frame.OpText, "still serving")
	c.c.Close()
}
