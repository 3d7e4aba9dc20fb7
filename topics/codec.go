package topics

import (
	"encoding/json"
	"fmt"
)

// JSON is a typed JSON codec. It satisfies goka.Codec (Encode/Decode over
// any) while keeping the type assertion in this one audited place.
type JSON[T any] struct{}

// Encode marshals a T or *T.
func (JSON[T]) Encode(v any) ([]byte, error) {
	switch x := v.(type) {
	case T:
		return json.Marshal(x)
	case *T:
		if x == nil {
			return nil, nil
		}
		return json.Marshal(x)
	default:
		var zero T
		return nil, fmt.Errorf("encoding %T: want %T", v, zero)
	}
}

// Decode unmarshals into a *T.
func (JSON[T]) Decode(data []byte) (any, error) {
	v := new(T)
	if err := json.Unmarshal(data, v); err != nil {
		var zero T
		return nil, fmt.Errorf("decoding %T: %w", zero, err)
	}
	return v, nil
}

// Raw passes bytes through unchanged (raw exchange frames).
type Raw struct{}

// Encode accepts []byte or string.
func (Raw) Encode(v any) ([]byte, error) {
	switch x := v.(type) {
	case []byte:
		return x, nil
	case string:
		return []byte(x), nil
	case nil:
		return nil, nil
	default:
		return nil, fmt.Errorf("encoding raw: unsupported %T", v)
	}
}

// Decode returns a copy of data.
func (Raw) Decode(data []byte) (any, error) {
	return append([]byte(nil), data...), nil
}
