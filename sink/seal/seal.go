// Package seal encrypts secrets at rest: tokens and client secrets stored in
// PostgreSQL.
//
// A sealed value is the text "seal:v1:<key id>:<base64 of nonce and
// ciphertext>", encrypted with AES-256-GCM. The key id names the key that
// sealed it (the first 8 bytes of the key's SHA-256, in hex), so keys can be
// rotated: a [Keyring] holds the current key, used to seal, and older keys,
// used only to open. Each value is bound to a context string (for example
// the row and column it is stored in), so a sealed value copied to another
// place does not open.
//
// A nil *Keyring means no encryption: Seal returns the plaintext, and Open
// refuses sealed values with an error that says which key is missing.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

const prefix = "seal:v1:"

// KeySize is the length of a key in bytes (AES-256).
const KeySize = 32

// KeyFile is the name of the file, in exactsync's state directory, that holds the key
// exactsync generates when none is configured: the key as base64 and a newline.
const KeyFile = "encryption.key"

// Keyring holds the keys that seal and open values.
type Keyring struct {
	current string
	aeads   map[string]cipher.AEAD
}

// ParseKey reads a 32-byte key written as 64 hex digits or as base64
// (standard or URL alphabet, padded or not).
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) == KeySize {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == KeySize {
			return b, nil
		}
	}
	return nil, errors.New("not a 32-byte key; generate one with `openssl rand -base64 32`")
}

// NewKeyring returns a keyring that seals with current and opens with
// current and any of old.
func NewKeyring(current []byte, old ...[]byte) (*Keyring, error) {
	k := &Keyring{aeads: map[string]cipher.AEAD{}}
	for i, key := range append([][]byte{current}, old...) {
		if len(key) != KeySize {
			return nil, fmt.Errorf("key %d is %d bytes, want %d", i+1, len(key), KeySize)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		id := ID(key)
		if i == 0 {
			k.current = id
		}
		k.aeads[id] = aead
	}
	return k, nil
}

// ID is the key id of a key.
func ID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:8])
}

// CurrentID is the id of the key that seals; "" for a nil keyring.
func (k *Keyring) CurrentID() string {
	if k == nil {
		return ""
	}
	return k.current
}

// IsSealed reports whether s is a sealed value.
func IsSealed(s string) bool { return strings.HasPrefix(s, prefix) }

// KeyIDOf returns the id of the key that sealed s, or "" if s is not sealed.
func KeyIDOf(s string) string {
	if !IsSealed(s) {
		return ""
	}
	id, _, _ := strings.Cut(strings.TrimPrefix(s, prefix), ":")
	return id
}

// Seal encrypts plaintext bound to context. With a nil keyring, or for an
// empty plaintext, it returns plaintext unchanged.
func (k *Keyring) Seal(plaintext, context string) (string, error) {
	if k == nil || plaintext == "" {
		return plaintext, nil
	}
	aead := k.aeads[k.current]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("reading random nonce: %w", err)
	}
	out := aead.Seal(nonce, nonce, []byte(plaintext), []byte(context))
	return prefix + k.current + ":" + base64.RawStdEncoding.EncodeToString(out), nil
}

// ErrNoKey is returned when a sealed value has to be opened without the key
// that sealed it.
var ErrNoKey = errors.New("no key to decrypt stored secrets")

// Open decrypts a sealed value bound to context. A value that is not sealed
// is returned unchanged (it was stored without a key).
func (k *Keyring) Open(s, context string) (string, error) {
	if !IsSealed(s) {
		return s, nil
	}
	id, body, ok := strings.Cut(strings.TrimPrefix(s, prefix), ":")
	if !ok {
		return "", errors.New("malformed sealed value")
	}
	if k == nil {
		return "", fmt.Errorf("%w: stored secrets are encrypted with key %s; set EXACTSYNC_ENCRYPTION_KEY (or EXACTSYNC_ENCRYPTION_KEY_FILE)", ErrNoKey, id)
	}
	aead, ok := k.aeads[id]
	if !ok {
		return "", fmt.Errorf("%w: stored secrets are encrypted with key %s, which is not configured; add it as EXACTSYNC_ENCRYPTION_KEY_OLD to rotate", ErrNoKey, id)
	}
	raw, err := base64.RawStdEncoding.DecodeString(body)
	if err != nil || len(raw) < aead.NonceSize() {
		return "", errors.New("malformed sealed value")
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(context))
	if err != nil {
		return "", fmt.Errorf("sealed value does not open with key %s: tampered with or moved", id)
	}
	return string(plain), nil
}
