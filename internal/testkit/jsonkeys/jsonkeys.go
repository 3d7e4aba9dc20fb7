// Package jsonkeys edits object keys of a JSON frame for differential
// tests, where a hand-written decoder and encoding/json must see a frame on
// which they are meant to agree.
package jsonkeys

import (
	"bytes"
	"encoding/json"
	"sort"
)

// Underscore prefixes "_" to every object key (at any depth) for which
// rename reports true ("S" -> "_S") and returns the trimmed frame; a frame
// with no such key, or that is not valid JSON, is returned as it is.
func Underscore(frame []byte, rename func(key string) bool) []byte {
	t := bytes.TrimSpace(frame)
	if !json.Valid(t) {
		return frame
	}
	dec := json.NewDecoder(bytes.NewReader(t))
	type level struct{ obj, wantKey bool }
	var stack []level
	var at []int
	for {
		off := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			break
		}
		top := len(stack) - 1
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				stack = append(stack, level{obj: d == '{', wantKey: d == '{'})
			default:
				stack = stack[:top]
				if top > 0 && stack[top-1].obj {
					stack[top-1].wantKey = true
				}
			}
			continue
		}
		if top < 0 || !stack[top].obj {
			continue
		}
		if !stack[top].wantKey {
			stack[top].wantKey = true
			continue
		}
		stack[top].wantKey = false
		if k, _ := tok.(string); rename(k) {
			at = append(at, int(off)+bytes.IndexByte(t[off:], '"')+1)
		}
	}
	if len(at) == 0 {
		return frame
	}
	sort.Ints(at)
	out := make([]byte, 0, len(t)+len(at))
	prev := 0
	for _, i := range at {
		out = append(append(out, t[prev:i]...), '_')
		prev = i
	}
	return append(out, t[prev:]...)
}
