package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// wsClient is the RFC 6455 client side, just enough for websocketd: the
// opening handshake, then a reader of unmasked server frames (text, binary,
// continuation, ping, close). Each message is one line of tail's output.
func wsClient(ctx context.Context, addr, path string, st *clientStats, bufSize int, onStatus func(int)) error {
	conn, done, err := dial(ctx, addr, onStatus)
	if err != nil {
		return err
	}
	defer done()

	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		onStatus(0)
		return err
	}
	br := bufio.NewReaderSize(conn, bufSize)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		onStatus(0)
		return err
	}
	onStatus(resp.StatusCode)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		return fmt.Errorf("bad Sec-WebSocket-Accept %q", resp.Header.Get("Sec-WebSocket-Accept"))
	}
	return readWS(conn, br, st)
}

func readWS(conn net.Conn, br *bufio.Reader, st *clientStats) error {
	var hdr [14]byte
	var msg, payload []byte
	for {
		if _, err := io.ReadFull(br, hdr[:2]); err != nil {
			return err
		}
		fin, op := hdr[0]&0x80 != 0, hdr[0]&0x0f
		masked, n := hdr[1]&0x80 != 0, uint64(hdr[1]&0x7f)
		switch n {
		case 126:
			if _, err := io.ReadFull(br, hdr[2:4]); err != nil {
				return err
			}
			n = uint64(binary.BigEndian.Uint16(hdr[2:4]))
		case 127:
			if _, err := io.ReadFull(br, hdr[2:10]); err != nil {
				return err
			}
			n = binary.BigEndian.Uint64(hdr[2:10])
		}
		var mask [4]byte
		if masked {
			if _, err := io.ReadFull(br, mask[:]); err != nil {
				return err
			}
		}
		if n > 1<<24 {
			return fmt.Errorf("frame of %d bytes", n)
		}
		if uint64(cap(payload)) < n {
			payload = make([]byte, n)
		}
		payload = payload[:n]
		if _, err := io.ReadFull(br, payload); err != nil {
			return err
		}
		if masked {
			for i := range payload {
				payload[i] ^= mask[i&3]
			}
		}
		switch op {
		case 0, 1, 2:
			msg = append(msg, payload...)
			if !fin {
				continue
			}
			for len(msg) > 0 && (msg[len(msg)-1] == '\n' || msg[len(msg)-1] == '\r') {
				msg = msg[:len(msg)-1]
			}
			st.line(msg, time.Now().UnixNano())
			msg = msg[:0]
		case 8:
			return io.EOF
		case 9:
			if err := writePong(conn, payload); err != nil {
				return err
			}
		}
	}
}

// writePong answers a ping; client frames must be masked.
func writePong(conn net.Conn, payload []byte) error {
	if len(payload) > 125 {
		payload = payload[:125]
	}
	f := []byte{0x8A, 0x80 | byte(len(payload)), 0, 0, 0, 0}
	_, _ = rand.Read(f[2:6])
	for i, b := range payload {
		f = append(f, b^f[2+i&3])
	}
	_, err := conn.Write(f)
	return err
}
