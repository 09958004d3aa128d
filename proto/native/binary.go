package native

var errBinaryPublish = &ProtocolError{CodeBadRequest, "binary publish: want byte 1, uvarint topic length, topic, payload"}

func parseBinaryPublish(b []byte) (topic string, payload []byte, err error) {
	if len(b) < 2 || b[0] != 1 {
		return "", nil, errBinaryPublish
	}
	var l uint64
	var i int
	for shift := uint(0); ; shift += 7 {
		i++
		if i >= len(b) || shift > 14 {
			return "", nil, errBinaryPublish
		}
		l |= uint64(b[i]&0x7f) << shift
		if b[i] < 0x80 {
			break
		}
	}
	i++
	if uint64(len(b)-i) < l {
		return "", nil, errBinaryPublish
	}
	return string(b[i : i+int(l)]), b[i+int(l):], nil
}
