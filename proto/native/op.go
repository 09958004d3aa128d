package native

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"

	"github.com/c1mhq/c1m/hub"
)

// clientOp is one client -> server operation of the native protocol.
type clientOp struct {
	Op       string
	ID       json.RawMessage // nil when absent or null; else a JSON number or string
	Topics   []string
	Topic    string
	Data     json.RawMessage // nil when absent
	Since    map[string]hub.Position
	Conflate *bool
	MaxRate  float64
	Token    string // refresh
}

// rawOp is the first decoding pass: every field as raw JSON, so that a field
// of the wrong type is reported by name (and with the request's id) instead
// of failing the whole message.
type rawOp struct {
	Op       json.RawMessage `json:"op"`
	ID       json.RawMessage `json:"id"`
	Topics   json.RawMessage `json:"topics"`
	Topic    json.RawMessage `json:"topic"`
	Data     json.RawMessage `json:"data"`
	Since    json.RawMessage `json:"since"`
	Conflate json.RawMessage `json:"conflate"`
	MaxRate  json.RawMessage `json:"maxRate"`
	Token    json.RawMessage `json:"token"`
}

// decodeOp parses a text message into m. On error m.ID is set whenever the
// message carried a usable id, so that the err reply can echo it. Messages
// are in the client's terms: field names and JSON types, never Go types.
func decodeOp(data []byte, m *clientOp) *ProtocolError {
	if err := checkObject(data, `{"op":"ping"}`); err != nil {
		return err
	}
	var r rawOp
	if err := json.Unmarshal(data, &r); err != nil {
		return badJSON(err)
	}
	if present(r.ID) {
		if !validID(r.ID) {
			return &ProtocolError{CodeBadRequest, `"id" must be a number or a string, got ` + jsonKind(r.ID)}
		}
		m.ID = r.ID
	}
	if present(r.Op) {
		if json.Unmarshal(r.Op, &m.Op) != nil {
			return &ProtocolError{CodeBadRequest, `"op" must be a string, got ` + jsonKind(r.Op)}
		}
	}
	if present(r.Topics) {
		if err := decodeStrings(r.Topics, &m.Topics); err != nil {
			return err
		}
	}
	if present(r.Topic) {
		if json.Unmarshal(r.Topic, &m.Topic) != nil {
			return &ProtocolError{CodeBadRequest, `"topic" must be a string, got ` + jsonKind(r.Topic)}
		}
	}
	if present(r.Data) {
		m.Data = r.Data
	}
	if present(r.Since) {
		if err := json.Unmarshal(r.Since, &m.Since); err != nil {
			msg := `"since" must be an object mapping topics to {"epoch":"...","seq":N}`
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) && te.Field != "" {
				msg += `: "` + te.Field + `" is ` + articled(te.Value)
			}
			return &ProtocolError{CodeBadRequest, msg}
		}
	}
	if present(r.Conflate) {
		var b bool
		if json.Unmarshal(r.Conflate, &b) != nil {
			return &ProtocolError{CodeBadRequest, `"conflate" must be true or false, got ` + jsonKind(r.Conflate)}
		}
		m.Conflate = &b
	}
	if present(r.MaxRate) {
		if json.Unmarshal(r.MaxRate, &m.MaxRate) != nil || m.MaxRate < 0 {
			return &ProtocolError{CodeBadRequest, `"maxRate" must be a number >= 0 (deliveries per second per topic), got ` + jsonValue(r.MaxRate)}
		}
	}
	if present(r.Token) {
		if json.Unmarshal(r.Token, &m.Token) != nil {
			return &ProtocolError{CodeBadRequest, `"token" must be a string, got ` + jsonKind(r.Token)}
		}
	}
	return nil
}

// checkObject reports an error unless data is (or starts like) a JSON
// object; example shows the client what is expected.
func checkObject(data []byte, example string) *ProtocolError {
	t := bytes.TrimLeft(data, " \t\r\n")
	if len(t) > 0 && t[0] == '{' {
		return nil
	}
	if !json.Valid(data) {
		var v any
		return badJSON(json.Unmarshal(data, &v))
	}
	return &ProtocolError{CodeBadRequest, "a message must be a JSON object such as " + example + ", got " + jsonKind(t)}
}

// badJSON turns a syntax error into a message without Go internals.
func badJSON(err error) *ProtocolError {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &ProtocolError{CodeBadRequest, "invalid JSON at byte " + strconv.FormatInt(se.Offset, 10) + ": " + se.Error()}
	}
	return &ProtocolError{CodeBadRequest, "invalid JSON"}
}

// decodeStrings decodes "topics": an array of strings.
func decodeStrings(raw json.RawMessage, out *[]string) *ProtocolError {
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return &ProtocolError{CodeBadRequest, `"topics" must be an array of strings, got ` + jsonKind(raw)}
	}
	s := make([]string, len(items))
	for i, it := range items {
		if json.Unmarshal(it, &s[i]) != nil {
			return &ProtocolError{CodeBadRequest, `"topics"[` + strconv.Itoa(i) + `] must be a string, got ` + jsonKind(it)}
		}
	}
	*out = s
	return nil
}

func present(raw json.RawMessage) bool { return len(raw) > 0 && string(raw) != "null" }

func validID(id json.RawMessage) bool {
	switch id[0] {
	case '"', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return true
	}
	return false
}

// jsonKind names the JSON type of a raw value: "a string", "an array", ...
func jsonKind(raw []byte) string {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '[':
		return "an array"
	case '{':
		return "an object"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// jsonValue shows a short raw value, or its kind when it is long.
func jsonValue(raw []byte) string {
	if len(raw) <= 32 {
		return string(raw)
	}
	return jsonKind(raw)
}

// articled turns encoding/json's JSON type names ("string", "number -1")
// into "a string", "the number -1".
func articled(v string) string {
	switch {
	case v == "":
		return "of the wrong type"
	case v == "array" || v == "object":
		return "an " + v
	case len(v) > 7 && v[:7] == "number ":
		return "the " + v
	}
	return "a " + v
}

// appendString appends s as a JSON string. Unlike encoding/json it leaves
// '<', '>' and '&' alone ("md.>" stays readable); invalid UTF-8 becomes
// U+FFFD.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r == '\n':
			b = append(b, '\\', 'n')
		case r == '\r':
			b = append(b, '\\', 'r')
		case r == '\t':
			b = append(b, '\\', 't')
		case r < 0x20 || r == 0x2028 || r == 0x2029:
			b = append(b, '\\', 'u', hex[r>>12&15], hex[r>>8&15], hex[r>>4&15], hex[r&15])
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return append(b, '"')
}
