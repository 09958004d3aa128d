package stomp

import "strconv"

// AppendCommand appends c and its EOL ("MESSAGE\n") to b.
func AppendCommand(b []byte, c Command) []byte {
	b = append(b, c.String()...)
	return append(b, '\n')
}

// AppendHeader appends the header line name:value with both escaped, as every
// frame except CONNECT, STOMP and CONNECTED needs.
func AppendHeader(b []byte, name, value string) []byte {
	b = appendEscaped(b, name)
	b = append(b, ':')
	b = appendEscaped(b, value)
	return append(b, '\n')
}

// AppendHeaderBytes is AppendHeader for a value held in a byte slice.
func AppendHeaderBytes(b []byte, name string, value []byte) []byte {
	b = appendEscaped(b, name)
	b = append(b, ':')
	b = appendEscaped(b, value)
	return append(b, '\n')
}

// AppendHeaderRaw appends the header line name:value without escaping, as
// CONNECT, STOMP and CONNECTED frames require. The caller guarantees that
// name and value hold no CR or LF and that name holds no ':'.
func AppendHeaderRaw(b []byte, name, value string) []byte {
	b = append(b, name...)
	b = append(b, ':')
	b = append(b, value...)
	return append(b, '\n')
}

// AppendHeaderUint appends the header line name:v, name escaped and v in
// decimal.
func AppendHeaderUint(b []byte, name string, v uint64) []byte {
	b = appendEscaped(b, name)
	b = append(b, ':')
	b = strconv.AppendUint(b, v, 10)
	return append(b, '\n')
}

// AppendBody appends the blank line that ends the headers, body and the NUL
// that ends the frame. A body holding NUL octets needs a content-length
// header, which the caller writes (AppendHeaderUint) before.
func AppendBody(b []byte, body []byte) []byte {
	b = append(b, '\n')
	b = append(b, body...)
	return append(b, 0)
}

// AppendEscaped appends s with STOMP's header escaping (\r \n \c \\), for
// callers that build a header piecewise.
func AppendEscaped(b []byte, s string) []byte { return appendEscaped(b, s) }

func appendEscaped[T string | []byte](b []byte, s T) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '\r':
			esc = `\r`
		case '\n':
			esc = `\n`
		case ':':
			esc = `\c`
		case '\\':
			esc = `\\`
		default:
			continue
		}
		b = append(b, s[start:i]...)
		b = append(b, esc...)
		start = i + 1
	}
	return append(b, s[start:]...)
}
