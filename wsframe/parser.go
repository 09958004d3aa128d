package wsframe

import (
	"encoding/binary"

	"github.com/gobwas/ws"
	"github.com/valyala/bytebufferpool"
)

// FrameHandler receives what a Parser decodes. Payload slices are only valid until
// the callback returns; the handler must copy what it keeps.
type FrameHandler interface {
	// OnMessage is called once per complete text or binary message (fragments
	// already joined; text already validated as UTF-8).
	OnMessage(op ws.OpCode, payload []byte)
	// OnPing is called for every ping, also between fragments of a message. The
	// handler answers with a pong carrying the same payload.
	OnPing(payload []byte)
	// OnPong is called for every pong.
	OnPong(payload []byte)
}

// DefaultMaxMessageSize is the MaxMessageSize of a zero ParserConfig.
const DefaultMaxMessageSize = 16 << 20

// ParserConfig configures a Parser. The zero value means: MaxMessageSize 16 MiB.
type ParserConfig struct {
	// MaxMessageSize is the largest message (sum of fragments) accepted. A frame
	// header that declares more, or a fragment that makes the total exceed it,
	// ends the connection with 1009 as soon as the header is read.
	// Zero or negative means DefaultMaxMessageSize. A compressed message
	// is bounded twice: as it arrives and once inflated.
	MaxMessageSize int64
	// Deflate accepts RSV1 on the first frame of a data message: the message
	// is compressed with permessage-deflate and is inflated (with pooled
	// state, no context kept between messages) before OnMessage sees it.
	// Set it when the handshake negotiated deflate (Handshake.Deflate).
	Deflate bool
}

// maxClientHeaderSize is the largest client frame header: 2 bytes, 8 bytes of
// extended length, 4 bytes of masking key.
const maxClientHeaderSize = 14

// Parser.flags bits.
const (
	flagPayload    uint8 = 1 << iota // reading the payload of the current frame
	flagDone                         // after an error, a close frame or Release
	flagDeflate                      // permessage-deflate negotiated: RSV1 allowed on a message's first frame
	flagCompressed                   // the data message in progress is compressed
)

// frame byte layout (Parser.frame): FIN bit | opcode, as in the first header byte.
const (
	bitFin  = 0x80
	bitRsv  = 0x70
	bitRsv1 = 0x40
	maskOp  = 0x0f
	bitMask = 0x80
)

// Pools of the buffers a Parser holds while a message or a control frame is
// incomplete. Control payloads (<= 125 bytes) get their own pool so that they
// never hold on to a large message buffer.
var (
	messagePool bytebufferpool.Pool
	controlPool bytebufferpool.Pool
)

// Parser is an incremental, strict server-side RFC 6455 frame parser for one
// connection. It keeps no buffer while idle: partial frames and fragmented
// messages are held in pooled buffers only until they complete.
// A Parser is not safe for concurrent use; the zero value is not usable, use
// NewParser or Init.
//
// Strictness (server side, no extension negotiated): unmasked frames, RSV bits,
// reserved opcodes, fragmented or over-125-byte control frames, a continuation
// without a message, a new data frame inside a fragmented message, non-minimal
// or 64-bit-MSB length encodings, 1-byte close payloads and invalid close codes
// end the connection with 1002; invalid UTF-8 in a text message or close reason
// with 1007; a message over MaxMessageSize with 1009.
type Parser struct {
	max       int64                      // MaxMessageSize
	remaining uint64                     // payload bytes of the current frame still to come
	msg       *bytebufferpool.ByteBuffer // data message being joined; nil when none
	ctl       *bytebufferpool.ByteBuffer // control payload split over Feed calls; nil when none
	mask      [4]byte                    // masking key of the current frame
	hdr       [maxClientHeaderSize]byte  // header bytes split over Feed calls
	hdrLen    uint8                      // bytes in hdr
	frame     uint8                      // FIN | opcode of the current frame
	msgOp     uint8                      // opcode of the message in progress, 0 when none
	text      utf8State                  // UTF-8 state of the text message in progress
	maskPos   uint8                      // position in mask of the next payload byte
	flags     uint8
}

// NewParser returns a Parser ready for a new connection.
func NewParser(cfg ParserConfig) *Parser {
	p := new(Parser)
	p.Init(cfg)
	return p
}

// Init prepares p for a new connection. Buffers p still holds are released.
func (p *Parser) Init(cfg ParserConfig) {
	p.putBuffers()
	max := cfg.MaxMessageSize
	if max <= 0 {
		max = DefaultMaxMessageSize
	}
	*p = Parser{max: max}
	if cfg.Deflate {
		p.flags = flagDeflate
	}
}

// Release returns the Parser's pooled buffers. Call it once when the connection
// closes. Feed returns an error afterwards.
func (p *Parser) Release() {
	p.putBuffers()
	p.flags = flagDone
}

func (p *Parser) putBuffers() {
	if p.msg != nil {
		messagePool.Put(p.msg)
		p.msg = nil
	}
	if p.ctl != nil {
		controlPool.Put(p.ctl)
		p.ctl = nil
	}
}

// fail ends the parser: buffers go back to the pool now, Feed is refused later.
func (p *Parser) fail(err *CloseError) error {
	p.putBuffers()
	p.flags = flagDone
	return err
}

// headerLen returns the size of a masked client frame header from its second
// byte.
func headerLen(b1 byte) int {
	switch b1 & 0x7f {
	case 126:
		return 2 + 2 + 4
	case 127:
		return 2 + 8 + 4
	}
	return 2 + 4
}

// Feed consumes all of data (the bytes that arrived, in order) and calls h for each
// complete message and control frame. Feed may unmask data in place; the caller must
// not use data afterwards. Bytes of an incomplete frame are copied into a pooled
// buffer and completed by later calls.
//
// A complete unfragmented frame that lies entirely in data is unmasked in place
// and passed to h without a copy. The Parser keeps no reference to data after
// Feed returns. h must not call back into p.
//
// Feed returns a *CloseError when the connection must end: Remote true when the
// peer sent a close frame (the caller echoes Code, RFC 6455 5.5.1), or the
// violation (1002, 1007, 1009) otherwise. After an error the Parser must not be fed
// again.
func (p *Parser) Feed(data []byte, h FrameHandler) error {
	if p.flags&flagDone != 0 {
		return protocolError(reasonReleased)
	}
	if p.max == 0 { // zero value: be forgiving rather than reject everything
		p.max = DefaultMaxMessageSize
	}
	for len(data) > 0 {
		fresh := false // the header was parsed in this iteration
		if p.flags&flagPayload == 0 {
			var hdr []byte
			if p.hdrLen == 0 && len(data) >= 2 {
				if err := p.checkStart(data[0], data[1]); err != nil {
					return p.fail(err)
				}
				n := headerLen(data[1])
				if len(data) < n {
					p.hdrLen = uint8(copy(p.hdr[:], data))
					return nil
				}
				hdr, data = data[:n], data[n:]
			} else {
				if p.hdrLen < 2 {
					p.hdr[p.hdrLen] = data[0]
					p.hdrLen++
					data = data[1:]
					if p.hdrLen < 2 {
						continue
					}
					if err := p.checkStart(p.hdr[0], p.hdr[1]); err != nil {
						return p.fail(err)
					}
				}
				n := headerLen(p.hdr[1])
				k := copy(p.hdr[p.hdrLen:n], data)
				p.hdrLen += uint8(k)
				data = data[k:]
				if int(p.hdrLen) < n {
					return nil
				}
				hdr = p.hdr[:n]
				p.hdrLen = 0
			}
			if err := p.startFrame(hdr); err != nil {
				return p.fail(err)
			}
			if p.remaining == 0 {
				if err := p.endFrame(nil, false, h); err != nil {
					return p.fail(err)
				}
				continue
			}
			p.flags |= flagPayload
			fresh = true
		}

		n := p.remaining
		if uint64(len(data)) < n {
			n = uint64(len(data))
		}
		chunk := data[:n]
		data = data[n:]
		op := ws.OpCode(p.frame & maskOp)

		// Fast path: the whole payload of an unfragmented frame is here.
		if fresh && n == p.remaining && (op.IsControl() || (p.frame&bitFin != 0 && op != ws.OpContinuation)) {
			ws.Cipher(chunk, p.mask, 0)
			p.remaining = 0
			p.flags &^= flagPayload
			if err := p.endFrame(chunk, true, h); err != nil {
				return p.fail(err)
			}
			continue
		}

		ws.Cipher(chunk, p.mask, int(p.maskPos))
		p.maskPos = uint8((int(p.maskPos) + len(chunk)) & 3)
		p.remaining -= n
		if op.IsControl() {
			if p.ctl == nil {
				p.ctl = controlPool.Get()
			}
			p.ctl.B = append(p.ctl.B, chunk...)
		} else {
			if p.msgOp == uint8(ws.OpText) && p.flags&flagCompressed == 0 {
				p.text = utf8Continue(p.text, chunk)
				if p.text == utf8Reject {
					return p.fail(&CloseError{Code: StatusInvalidPayload, Reason: reasonTextUTF8})
				}
			}
			if p.msg == nil {
				p.msg = messagePool.Get()
			}
			p.msg.B = append(p.msg.B, chunk...)
		}
		if p.remaining == 0 {
			p.flags &^= flagPayload
			if err := p.endFrame(nil, false, h); err != nil {
				return p.fail(err)
			}
		}
	}
	return nil
}

// checkStart checks what the first two header bytes decide on their own.
func (p *Parser) checkStart(b0, b1 byte) *CloseError {
	op := ws.OpCode(b0 & maskOp)
	switch {
	case b0&bitRsv != 0:
		if b0&bitRsv != bitRsv1 || p.flags&flagDeflate == 0 {
			return protocolError(reasonRSV)
		}
		if op != ws.OpText && op != ws.OpBinary {
			return protocolError(reasonRSV1)
		}
	case op.IsReserved():
		return protocolError(reasonReservedOp)
	case b1&bitMask == 0:
		return protocolError(reasonUnmasked)
	}
	if op.IsControl() {
		if b0&bitFin == 0 {
			return protocolError(reasonControlFragmented)
		}
		if b1&0x7f > 125 {
			return protocolError(reasonControlTooLong)
		}
		if op == ws.OpClose && b1&0x7f == 1 {
			return protocolError(reasonCloseOneByte)
		}
		return nil
	}
	if op == ws.OpContinuation && p.msgOp == 0 {
		return protocolError(reasonContinuation)
	}
	if op != ws.OpContinuation && p.msgOp != 0 {
		return protocolError(reasonExpectedCont)
	}
	return nil
}

// startFrame decodes a complete header (already checked by checkStart).
func (p *Parser) startFrame(hdr []byte) *CloseError {
	var length uint64
	maskAt := 2
	switch hdr[1] & 0x7f {
	case 126:
		length = uint64(binary.BigEndian.Uint16(hdr[2:]))
		if length < 126 {
			return protocolError(reasonNonMinimalLength)
		}
		maskAt = 4
	case 127:
		length = binary.BigEndian.Uint64(hdr[2:])
		if length>>63 != 0 {
			return protocolError(reasonLengthMSB)
		}
		if length <= 0xffff {
			return protocolError(reasonNonMinimalLength)
		}
		maskAt = 10
	default:
		length = uint64(hdr[1] & 0x7f)
	}
	op := ws.OpCode(hdr[0] & maskOp)
	if !op.IsControl() {
		var have uint64
		if p.msg != nil {
			have = uint64(len(p.msg.B))
		}
		limit := uint64(p.max)
		if (op == ws.OpContinuation && p.flags&flagCompressed != 0) || (op != ws.OpContinuation && hdr[0]&bitRsv1 != 0) {
			// A compressed message may be a little larger than what it
			// inflates to (stored blocks of incompressible data): MaxMessageSize
			// bounds the inflated message, the wire gets deflate's overhead.
			limit += limit>>10 + 64
		}
		if length > limit-have {
			return &CloseError{Code: StatusMessageTooBig, Reason: reasonTooBig}
		}
		if op != ws.OpContinuation {
			p.msgOp = uint8(op)
			p.text = utf8Accept
			p.flags &^= flagCompressed
			if hdr[0]&bitRsv1 != 0 {
				p.flags |= flagCompressed
			}
		}
	}
	copy(p.mask[:], hdr[maskAt:maskAt+4])
	p.frame = hdr[0] & (bitFin | maskOp)
	p.remaining = length
	p.maskPos = 0
	return nil
}

// endFrame handles a frame whose payload is complete: payload when direct
// (the unmasked frame in the caller's data), else the pooled buffers.
func (p *Parser) endFrame(payload []byte, direct bool, h FrameHandler) *CloseError {
	op := ws.OpCode(p.frame & maskOp)
	if op.IsControl() {
		if !direct && p.ctl != nil {
			payload = p.ctl.B
		}
		var err *CloseError
		switch op {
		case ws.OpPing:
			h.OnPing(payload)
		case ws.OpPong:
			h.OnPong(payload)
		case ws.OpClose:
			err = parseClose(payload)
		}
		if p.ctl != nil {
			controlPool.Put(p.ctl)
			p.ctl = nil
		}
		return err
	}
	if p.frame&bitFin == 0 {
		return nil // more fragments to come
	}
	msgOp := ws.OpCode(p.msgOp)
	if p.flags&flagCompressed != 0 {
		return p.endCompressed(msgOp, payload, direct, h)
	}
	if msgOp == ws.OpText {
		if direct {
			if !validUTF8(payload) {
				return &CloseError{Code: StatusInvalidPayload, Reason: reasonTextUTF8}
			}
		} else if p.text != utf8Accept {
			return &CloseError{Code: StatusInvalidPayload, Reason: reasonTextUTF8}
		}
	}
	if !direct && p.msg != nil {
		payload = p.msg.B
	}
	p.msgOp = 0
	h.OnMessage(msgOp, payload)
	if p.msg != nil {
		messagePool.Put(p.msg)
		p.msg = nil
	}
	return nil
}

// endCompressed inflates a complete compressed message (payload when
// direct, else the joined fragments) and passes it to h.
func (p *Parser) endCompressed(op ws.OpCode, payload []byte, direct bool, h FrameHandler) *CloseError {
	if !direct && p.msg != nil {
		payload = p.msg.B
	}
	out := messagePool.Get()
	var err *CloseError
	out.B, err = inflate(out.B[:0], payload, p.max)
	if err == nil && op == ws.OpText && !validUTF8(out.B) {
		err = &CloseError{Code: StatusInvalidPayload, Reason: reasonTextUTF8}
	}
	if err != nil {
		messagePool.Put(out)
		return err
	}
	p.msgOp = 0
	p.flags &^= flagCompressed
	h.OnMessage(op, out.B)
	messagePool.Put(out)
	if p.msg != nil {
		messagePool.Put(p.msg)
		p.msg = nil
	}
	return nil
}
