package socketio_test

import (
	"testing"

	"github.com/c1mhq/c1m/proto/engineio"
	"github.com/c1mhq/c1m/proto/socketio"
)

// TestConformance: the behaviour the Socket.IO protocol's test suite
// expects of its reference server, over both transports.
func TestConformance(t *testing.T) {
	var cfg socketio.Config
	socketio.Conformance(&cfg)
	r := newRig(t, cfg, engineio.Config{})
	transports(t, r, func(t *testing.T, c *client) {
		c.send("40")
		c.expectPrefix(`40{"sid":"`)
		c.expect(`42["auth",{}]`)
		c.send(`40/custom,{"token":"123"}`)
		c.expectPrefix(`40/custom,{"sid":"`)
		c.expect(`42/custom,["auth",{"token":"123"}]`)
		c.send(`40/random,`)
		c.expect(`44/random,{"message":"Invalid namespace"}`)

		c.send(`42["message",1,"2",{"3":[true]}]`)
		c.expect(`42["message-back",1,"2",{"3":[true]}]`)
		c.send(`452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, "bAQI=", "bAwQ=")
		c.expect(`452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)
		c.expect("bAQI=")
		c.expect("bAwQ=")
		c.send(`42456["message-with-ack",1,"2",{"3":[false]}]`)
		c.expect(`43456[1,"2",{"3":[false]}]`)
		c.send(`451-789["message-with-ack",{"_placeholder":true,"num":0}]`, "bAQI=")
		c.expect(`461-789[{"_placeholder":true,"num":0}]`)
		c.expect("bAQI=")

		// DISCONNECT from "/" leaves the connection (and /custom) open.
		c.send("41")
		c.send(`42/custom,["message","x"]`, "40")
		c.expectPrefix(`40{"sid":"`)
		c.expect(`42["auth",{}]`)
	})
}
