package stomp

// subIndex holds a session's subscriptions by id: a short slice while
// there are few (most sessions have one or two; a map costs some 200 bytes
// even for one entry), a map past maxListSubs. Session goroutine only.
type subIndex struct {
	list []*subscription
	byID map[string]*subscription
}

const maxListSubs = 8

func (x *subIndex) len() int {
	if x.byID != nil {
		return len(x.byID)
	}
	return len(x.list)
}

func (x *subIndex) get(id string) *subscription {
	if x.byID != nil {
		return x.byID[id]
	}
	for _, s := range x.list {
		if s.id == id {
			return s
		}
	}
	return nil
}

func (x *subIndex) add(sub *subscription) {
	if x.byID == nil && len(x.list) < maxListSubs {
		x.list = append(x.list, sub)
		return
	}
	if x.byID == nil {
		x.byID = make(map[string]*subscription, 2*maxListSubs)
		for _, s := range x.list {
			x.byID[s.id] = s
		}
		x.list = nil
	}
	x.byID[sub.id] = sub
}

func (x *subIndex) remove(id string) {
	if x.byID != nil {
		delete(x.byID, id)
		return
	}
	for i, s := range x.list {
		if s.id == id {
			x.list = append(x.list[:i], x.list[i+1:]...)
			x.list[len(x.list):cap(x.list)][0] = nil
			return
		}
	}
}

// all returns the subscriptions, in a new slice (the caller may remove
// while iterating).
func (x *subIndex) all() []*subscription {
	if x.byID == nil {
		return append([]*subscription(nil), x.list...)
	}
	out := make([]*subscription, 0, len(x.byID))
	for _, s := range x.byID {
		out = append(out, s)
	}
	return out
}
