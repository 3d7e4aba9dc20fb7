package binance

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// maxDepth is encoding/json's nesting limit, kept so that the one-pass
// decoder refuses exactly the frames the reflection decoder refused.
const maxDepth = 10000

// scanner is the one-pass reader under Decode: it validates the JSON syntax
// as it goes (the same grammar encoding/json accepts: no trailing commas,
// no leading zeros, control characters only escaped, nesting at most
// maxDepth) and hands out scalars without a second parse. A syntax error is
// sticky in err and ends every loop; it is fatal for the whole frame. What
// a field holds of the wrong kind is a semantic error, returned by the
// field's reader, so the caller decides whether it matters (the body of a
// wrapper frame, for example, does not).
//
// Field names are matched case-sensitively, byte for byte after
// unescaping: Binance sends "p" and "P", "e" and "E" with different
// meanings, and encoding/json's case-insensitive fallback is how one gets
// read as the other.
type scanner struct {
	b     []byte
	i     int
	depth int
	err   error
	// envOnly reads the envelope only (ParseEnvelope): bodies are skipped.
	envOnly bool
}

// String flags reported by str.
const (
	strEscape   = 1 << iota // the string holds a backslash escape
	strNonASCII             // the string holds a byte >= 0x80
)

func (s *scanner) fail(what string) {
	if s.err == nil {
		s.err = fmt.Errorf("invalid JSON at offset %d: %s", min(s.i, len(s.b)), what)
	}
	s.i = len(s.b)
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek skips whitespace and returns the next byte, 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

// open consumes the '{' or '[' at the cursor and counts the nesting.
func (s *scanner) open() bool {
	s.i++
	s.depth++
	if s.depth > maxDepth {
		s.fail("exceeded max depth")
		return false
	}
	return true
}

// next advances to the next element of the object or array just opened
// (end is '}' or ']'): it consumes the separating comma, or the closing
// byte and returns false. first is the caller's loop state.
func (s *scanner) next(end byte, first *bool) bool {
	c := s.peek()
	if s.err != nil {
		return false
	}
	if c == end {
		s.i++
		s.depth--
		return false
	}
	if !*first {
		if c != ',' {
			s.fail("expected ',' or closing bracket")
			return false
		}
		s.i++
	}
	*first = false
	return true
}

// key reads an object key and its colon; escaped keys are unescaped.
func (s *scanner) key() []byte {
	if s.peek() != '"' {
		s.fail("expected an object key")
		return nil
	}
	start := s.i
	k, f := s.str()
	if f&strEscape != 0 && s.err == nil {
		k = []byte(unquoteSlow(s.b[start:s.i]))
	}
	if s.peek() != ':' {
		s.fail("expected ':' after an object key")
		return nil
	}
	s.i++
	return k
}

// str reads the string at the cursor (which is '"') and returns its raw
// content between the quotes and its flags.
func (s *scanner) str() ([]byte, int) {
	start := s.i + 1
	f := 0
	for i := start; i < len(s.b); {
		c := s.b[i]
		switch {
		case c == '"':
			s.i = i + 1
			return s.b[start:i], f
		case c == '\\':
			f |= strEscape
			if i+1 >= len(s.b) {
				s.i = i
				s.fail("unterminated escape")
				return nil, 0
			}
			switch s.b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+5 >= len(s.b) || !isHex(s.b[i+2]) || !isHex(s.b[i+3]) || !isHex(s.b[i+4]) || !isHex(s.b[i+5]) {
					s.i = i
					s.fail("invalid \\u escape")
					return nil, 0
				}
				i += 6
			default:
				s.i = i
				s.fail("invalid escape")
				return nil, 0
			}
		case c < 0x20:
			s.i = i
			s.fail("control character in string")
			return nil, 0
		case c >= 0x80:
			f |= strNonASCII
			i++
		default:
			i++
		}
	}
	s.i = len(s.b)
	s.fail("unterminated string")
	return nil, 0
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// strText is the text of the string at the cursor, unescaped exactly as
// encoding/json does (invalid UTF-8 and lone surrogates become U+FFFD).
func (s *scanner) strText() string {
	start := s.i
	raw, f := s.str()
	if s.err != nil {
		return ""
	}
	if f == 0 || f == strNonASCII && utf8.Valid(raw) {
		return string(raw)
	}
	return unquoteSlow(s.b[start:s.i])
}

// strBytes is strText without allocating on the common path (no escape,
// valid UTF-8): the returned bytes alias the frame.
func (s *scanner) strBytes() []byte {
	start := s.i
	raw, f := s.str()
	if s.err != nil {
		return nil
	}
	if f == 0 || f == strNonASCII && utf8.Valid(raw) {
		return raw
	}
	return []byte(unquoteSlow(s.b[start:s.i]))
}

// unquoteSlow unescapes a valid JSON string token through encoding/json, so
// the rare escaped or invalid-UTF-8 string decodes exactly as before.
func unquoteSlow(tok []byte) string {
	var v string
	_ = json.Unmarshal(tok, &v)
	return v
}

// number reads the JSON number at the cursor and returns its text.
func (s *scanner) number() []byte {
	b, i := s.b, s.i
	start := i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i++; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		}
	default:
		s.i = i
		s.fail("invalid value")
		return nil
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		}
		if i == d {
			s.i = i
			s.fail("invalid number")
			return nil
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		}
		if i == d {
			s.i = i
			s.fail("invalid number")
			return nil
		}
	}
	s.i = i
	return b[start:i]
}

// lit consumes the literal word (true, false or null) at the cursor.
func (s *scanner) lit(word string) {
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		s.fail("invalid literal")
		return
	}
	s.i += len(word)
}

// skip validates and passes over one value.
func (s *scanner) skip() {
	switch s.peek() {
	case '"':
		s.str()
	case '{':
		if !s.open() {
			return
		}
		for first := true; s.next('}', &first); {
			s.key()
			s.skip()
		}
	case '[':
		if !s.open() {
			return
		}
		for first := true; s.next(']', &first); {
			s.skip()
		}
	case 't':
		s.lit("true")
	case 'f':
		s.lit("false")
	case 'n':
		s.lit("null")
	default:
		s.number()
	}
}

// raw validates one value and returns its bytes.
func (s *scanner) raw() []byte {
	s.ws()
	start := s.i
	s.skip()
	return s.b[start:s.i]
}

// wrongKind skips a value of the wrong kind for what and reports it.
func (s *scanner) wrongKind(what string) error {
	s.ws()
	c := byte(0)
	if s.i < len(s.b) {
		c = s.b[s.i]
	}
	s.skip()
	return fmt.Errorf("cannot decode a JSON value starting with %q into %s", c, what)
}

// text reads a Text: a string, null (""), or a bare number or boolean kept
// as written; an object or array is an error.
func (s *scanner) text() (Text, error) {
	switch s.peek() {
	case '"':
		return Text(s.strText()), nil
	case 'n':
		s.lit("null")
		return "", nil
	case 't':
		s.lit("true")
		return "true", nil
	case 'f':
		s.lit("false")
		return "false", nil
	case '{', '[':
		return "", s.wrongKind("a string")
	default:
		return Text(s.number()), nil
	}
}

// decimal reads a Decimal: a string, null (""), or a bare number kept as
// written; a boolean, object or array is an error.
func (s *scanner) decimal() (Decimal, error) {
	switch s.peek() {
	case '"':
		return Decimal(s.strText()), nil
	case 'n':
		s.lit("null")
		return "", nil
	case 't', 'f', '{', '[':
		return "", s.wrongKind("a decimal")
	default:
		return Decimal(s.number()), nil
	}
}

// int64v reads an Int64: a number or a numeric string, exact; null and ""
// are 0.
func (s *scanner) int64v() (Int64, error) {
	var txt []byte
	switch s.peek() {
	case '"':
		txt = s.strBytes()
		if len(txt) == 0 {
			return 0, nil
		}
	case 'n':
		s.lit("null")
		return 0, nil
	case 't', 'f', '{', '[':
		return 0, s.wrongKind("an integer")
	default:
		txt = s.number()
	}
	if s.err != nil {
		return 0, nil
	}
	v, ok := parseInt64(txt)
	if !ok {
		return 0, fmt.Errorf("decoding integer %q: not a 64-bit integer", clip(txt))
	}
	return Int64(v), nil
}

// boolv reads a Bool: true, false, null, "true", "false" or "".
func (s *scanner) boolv() (Bool, error) {
	switch s.peek() {
	case 't':
		s.lit("true")
		return true, nil
	case 'f':
		s.lit("false")
		return false, nil
	case 'n':
		s.lit("null")
		return false, nil
	case '"':
		raw, f := s.str()
		switch {
		case s.err != nil:
			return false, nil
		case f == 0 && string(raw) == "true":
			return true, nil
		case f == 0 && (string(raw) == "false" || len(raw) == 0):
			return false, nil
		}
		return false, fmt.Errorf("decoding boolean %q", clip(raw))
	default:
		return false, s.wrongKind("a boolean")
	}
}

// parseInt64 is strconv.ParseInt(string(b), 10, 64) without the string:
// an optional sign, then decimal digits only.
func parseInt64(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && (b[0] == '+' || b[0] == '-') {
		neg = b[0] == '-'
		b = b[1:]
	}
	if len(b) == 0 {
		return 0, false
	}
	const cutoff = 1 << 63
	var u uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if u > cutoff/10 {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
		if u > cutoff {
			return 0, false
		}
	}
	if neg {
		return -int64(u), true // u == 1<<63 gives MinInt64
	}
	if u == cutoff {
		return 0, false
	}
	return int64(u), true
}

// eventTimeOf is parseEventTime on a validated raw value: absent and null
// are 0, a number or a numeric string is exact; "" and anything else is an
// error.
func eventTimeOf(raw []byte) (int64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	txt := raw
	if raw[0] == '"' {
		s := scanner{b: raw}
		txt = s.strBytes()
	}
	t, ok := parseInt64(txt)
	if !ok {
		return 0, fmt.Errorf("E %q is not an integer", clip(txt))
	}
	return t, nil
}

// clip shortens exchange text quoted in an error to 64 bytes.
func clip(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "..."
	}
	return string(b)
}
