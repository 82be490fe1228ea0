// The bench's Go peer: the prodcon contract with gorilla/websocket, written the way its own
// examples do (a goroutine per connection, prepared messages for broadcast).
//
// Usage: server INTERVAL_SECONDS [--broadcast]
//
//   - Listens on 127.0.0.1, port 0, and prints "listening on ws://127.0.0.1:PORT/" once it accepts.
//   - A client offering the subprotocol prodcon.v1 gets {"seq":N,"time":MICROS,"data":"N"}, the
//     time stamped when the message is made; any other client gets the plain text "N".
//   - Per connection (default): a counter per connection from 1, one message per interval.
//     --broadcast: one counter for every connection.
//   - Backpressure: writes block, so a connection's counter waits for its socket; in broadcast
//     each connection has a queue of queueSize messages and the counter waits for the slowest.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

const prodconV1 = "prodcon.v1"

// Messages a broadcast connection's queue holds, as producer-server's --queue.
const queueSize = 1024

var upgrader = websocket.Upgrader{
	Subprotocols:    []string{prodconV1},
	CheckOrigin:     func(*http.Request) bool { return true },
	ReadBufferSize:  256,
	WriteBufferSize: 4096,
}

// Message seq as plain text.
func plain(seq uint64) []byte {
	return strconv.AppendUint(nil, seq, 10)
}

// Message seq as the prodcon.v1 envelope, stamped now.
func envelope(seq uint64) []byte {
	out := make([]byte, 0, 64)
	out = append(out, `{"seq":`...)
	out = strconv.AppendUint(out, seq, 10)
	out = append(out, `,"time":`...)
	out = strconv.AppendInt(out, time.Now().UnixMicro(), 10)
	out = append(out, `,"data":"`...)
	out = strconv.AppendUint(out, seq, 10)
	return append(out, `"}`...)
}

// Reads and drops what the client sends, so that pings are answered and a close is seen.
func discard(conn *websocket.Conn, gone chan struct{}) {
	defer close(gone)
	for {
		if _, _, err := conn.NextReader(); err != nil {
			return
		}
	}
}

func perConnection(conn *websocket.Conn, interval time.Duration) {
	defer conn.Close()
	gone := make(chan struct{})
	go discard(conn, gone)
	asJSON := conn.Subprotocol() == prodconV1
	for seq := uint64(1); ; seq++ {
		if interval > 0 {
			select {
			case <-time.After(interval):
			case <-gone:
				return
			}
		}
		var message []byte
		if asJSON {
			message = envelope(seq)
		} else {
			message = plain(seq)
		}
		if err := conn.WriteMessage(websocket.TextMessage, message); err != nil {
			return
		}
	}
}

// One broadcast subscriber: its queue, and whether it asked for envelopes.
type subscriber struct {
	queue  chan [2]*websocket.PreparedMessage
	asJSON bool
}

type hub struct {
	mu          sync.Mutex
	subscribers map[*subscriber]struct{}
}

func (h *hub) run(interval time.Duration) {
	for seq := uint64(1); ; seq++ {
		if interval > 0 {
			time.Sleep(interval)
		}
		p, _ := websocket.NewPreparedMessage(websocket.TextMessage, plain(seq))
		e, _ := websocket.NewPreparedMessage(websocket.TextMessage, envelope(seq))
		h.mu.Lock()
		subscribers := make([]*subscriber, 0, len(h.subscribers))
		for s := range h.subscribers {
			subscribers = append(subscribers, s)
		}
		h.mu.Unlock()
		for _, s := range subscribers {
			s.queue <- [2]*websocket.PreparedMessage{p, e}
		}
	}
}

func (h *hub) serve(conn *websocket.Conn) {
	defer conn.Close()
	s := &subscriber{
		queue:  make(chan [2]*websocket.PreparedMessage, queueSize),
		asJSON: conn.Subprotocol() == prodconV1,
	}
	h.mu.Lock()
	h.subscribers[s] = struct{}{}
	h.mu.Unlock()
	gone := make(chan struct{})
	go discard(conn, gone)
	defer func() {
		h.mu.Lock()
		delete(h.subscribers, s)
		h.mu.Unlock()
		// The hub may be blocked on this queue: empty it so that it goes on.
		for {
			select {
			case <-s.queue:
			default:
				return
			}
		}
	}()
	for {
		select {
		case pair := <-s.queue:
			message := pair[0]
			if s.asJSON {
				message = pair[1]
			}
			if err := conn.WritePreparedMessage(message); err != nil {
				return
			}
		case <-gone:
			return
		}
	}
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: server INTERVAL_SECONDS [--broadcast]")
		os.Exit(2)
	}
	seconds, err := strconv.ParseFloat(os.Args[1], 64)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bad interval %q: give seconds, such as 0.1\n", os.Args[1])
		os.Exit(2)
	}
	interval := time.Duration(seconds * float64(time.Second))
	broadcast := len(os.Args) > 2 && os.Args[2] == "--broadcast"
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintf(os.Stderr, "cannot listen: %v\n", err)
		os.Exit(1)
	}
	h := &hub{subscribers: map[*subscriber]struct{}{}}
	if broadcast {
		go h.run(interval)
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		if broadcast {
			h.serve(conn)
		} else {
			perConnection(conn, interval)
		}
	})
	fmt.Printf("listening on ws://%s/\n", listener.Addr())
	if err := http.Serve(listener, handler); err != nil {
		fmt.Fprintf(os.Stderr, "serving failed: %v\n", err)
		os.Exit(1)
	}
}
