package server_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/frame"
	rhttp "github.com/rawws/rawws/http"
	"github.com/rawws/rawws/server"
)

// A route without a handler stays a panic, raised by the registration
// itself (a programmer error at setup, like net/http's nil handler), also
// when routes are added to a running server; the routes already there keep
// serving and the bad one is not registered.
func TestAppRouteWithoutHandlerPanicsAtRegistration(t *testing.T) {
	var app *server.App
	srv, err := server.New(func(a *server.App) {
		app = a
		a.WebSocket("/ok", rawws.Options{MessageHandler: echoMessages})
	}, server.Config{Backend: "std"})
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
		"Endpoint":  func() { app.Endpoint("/bad", server.Endpoint{Protocols: []string{"x"}}) },
	} {
		func() {
			defer func() {
				r := recover()
				if err, _ := r.(error); err == nil || !strings.Contains(err.Error(), "/bad") {
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

// A route computed at run time is registered with RegisterEndpoint or
// RegisterHandler: a bad one is an error wrapping http.ErrBadRoute, adds
// nothing and panics nowhere; a good one serves at once.
func TestAppRegisterRouteAtRunTime(t *testing.T) {
	var app *server.App
	srv, err := server.New(func(a *server.App) { app = a }, server.Config{Backend: "std"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ln := listenLocal(t)
	go srv.Serve(ln)
	addr := ln.Addr().String()
	for name, err := range map[string]error{
		"no handler":    app.RegisterEndpoint("/bad", server.Endpoint{}),
		"no slash":      app.RegisterEndpoint("bad", server.Endpoint{Options: rawws.Options{MessageHandler: echoMessages}}),
		"nil HTTP":      app.RegisterHandler("/bad", nil),
		"HTTP no slash": app.RegisterHandler("bad", rhttp.HandlerFunc(func(*rhttp.ResponseWriter, *rhttp.Request) {})),
	} {
		if !errors.Is(err, rhttp.ErrBadRoute) {
			t.Errorf("%s: %v, want ErrBadRoute", name, err)
		}
	}
	if status, _ := httpGet(t, addr, "/bad", ""); !strings.Contains(status, " 404 ") {
		t.Fatalf("a refused route answers %q, want 404", status)
	}
	if err := app.RegisterEndpoint("/ws", server.Endpoint{Options: rawws.Options{MessageHandler: echoMessages}}); err != nil {
		t.Fatal(err)
	}
	if err := app.RegisterHandler("/hi", rhttp.HandlerFunc(func(w *rhttp.ResponseWriter, r *rhttp.Request) { w.WriteString("hi") })); err != nil {
		t.Fatal(err)
	}
	if status, body := httpGet(t, addr, "/hi", ""); !strings.Contains(status, " 200 ") || body != "hi" {
		t.Fatalf("GET /hi: %q %q", status, body)
	}
	c := dialWS(t, addr, "/ws", nil)
	c.send(t, frame.OpText, []byte("added at run time"))
	c.expect(t, frame.OpText, "added at run time")
	c.c.Close()
}
