package native

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/c1mhq/c1m/hub"
)

// DecodeBatch parses and checks the body of a batch publish,
// [{"topic":T,"data":D},...], before any of it is published: a bad item
// refuses the whole batch, and the error names the item. The returned data
// slices point into body.
func (h *Handler) DecodeBatch(body []byte) ([]hub.Message, *ProtocolError) {
	const want = `want ?topic=T with the data as the body, or a JSON array of {"topic":T,"data":D}`
	t := bytes.TrimLeft(body, " \t\r\n")
	if len(t) == 0 || t[0] != '[' {
		if !json.Valid(body) {
			var v any
			pe := badJSON(json.Unmarshal(body, &v))
			pe.Msg = want + "; " + pe.Msg
			return nil, pe
		}
		return nil, &ProtocolError{CodeBadRequest, want + "; got " + jsonKind(t)}
	}
	var items []json.RawMessage
	if err := json.Unmarshal(body, &items); err != nil {
		return nil, badJSON(err)
	}
	batch := make([]hub.Message, len(items))
	for i, it := range items {
		item := "item " + strconv.Itoa(i)
		var raw struct {
			Topic json.RawMessage `json:"topic"`
			Data  json.RawMessage `json:"data"`
		}
		if jsonKind(it) != "an object" || json.Unmarshal(it, &raw) != nil {
			return nil, &ProtocolError{CodeBadRequest, item + ` must be an object {"topic":T,"data":D}, got ` + jsonKind(it)}
		}
		if !present(raw.Topic) || json.Unmarshal(raw.Topic, &batch[i].Topic) != nil {
			return nil, &ProtocolError{CodeBadRequest, item + `: "topic" must be a string, got ` + jsonKind(raw.Topic)}
		}
		if why := hub.CheckTopic(batch[i].Topic, false); why != "" {
			return nil, &ProtocolError{CodeBadTopic, item + ": malformed topic " + strconv.Quote(batch[i].Topic) + ": " + why}
		}
		if len(raw.Data) == 0 {
			return nil, &ProtocolError{CodeBadRequest, item + ` has no "data"`}
		}
		if len(raw.Data) > h.cfg.MaxPublishBytes {
			pe := h.TooLarge(len(raw.Data))
			pe.Msg = item + ": " + pe.Msg
			return nil, pe
		}
		batch[i].Data = raw.Data
	}
	return batch, nil
}
