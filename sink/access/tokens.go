package access

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
)

// tokenSet holds the SHA-256 digests of the accepted tokens. Comparing
// digests of fixed size keeps the comparison's time independent of the
// tokens' lengths and contents.
type tokenSet struct {
	digests [][sha256.Size]byte
}

// errNoTokens says a token file holds no token, which would lock every
// client out: refused at start, ignored on reload.
var errNoTokens = errors.New("no token in it (one token a line; blank lines and lines starting with # are skipped)")

// parseTokens reads one token a line, skipping blank lines and comments.
// Surrounding white space (a trailing CR or newline, as editors and
// `kubectl create secret --from-file` leave) is not part of a token.
func parseTokens(data []byte) (*tokenSet, error) {
	set := &tokenSet{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, len(data)+1)
	for lineNo := 1; sc.Scan(); lineNo++ {
		tok := bytes.TrimSpace(sc.Bytes())
		if len(tok) == 0 || tok[0] == '#' {
			continue
		}
		if i := bytes.IndexFunc(tok, func(r rune) bool { return r <= ' ' || r == 0x7f }); i >= 0 {
			// An HTTP header value cannot carry such a token, so it is a
			// mistake in the file rather than a token to accept.
			return nil, fmt.Errorf("line %d: a token must not contain spaces or control characters", lineNo)
		}
		set.digests = append(set.digests, sha256.Sum256(tok))
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(set.digests) == 0 {
		return nil, errNoTokens
	}
	return set, nil
}

// match reports whether token is one of the set. It compares against every
// token, whichever matches, so its time does not reveal which one did or
// how many there are before it.
func (s *tokenSet) match(token string) bool {
	// A stack buffer for the usual token sizes: converting the string
	// would allocate for every request.
	var buf [256]byte
	digest := sha256.Sum256(append(buf[:0], token...))
	found := 0
	for i := range s.digests {
		found |= subtle.ConstantTimeCompare(digest[:], s.digests[i][:])
	}
	return found == 1
}
