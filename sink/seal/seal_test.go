package seal

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func newKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpenRoundTrip(t *testing.T) {
	kr, err := NewKeyring(newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	const secret = "__1P!Iabc-refresh-token"
	sealed, err := kr.Seal(secret, "connection 1 refresh_token")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, secret) || !IsSealed(sealed) {
		t.Fatalf("sealed value %q is not sealed", sealed)
	}
	if got := KeyIDOf(sealed); got != kr.CurrentID() {
		t.Errorf("KeyIDOf = %q, want %q", got, kr.CurrentID())
	}
	got, err := kr.Open(sealed, "connection 1 refresh_token")
	if err != nil || got != secret {
		t.Errorf("Open = %q, %v; want %q", got, err, secret)
	}
	again, _ := kr.Seal(secret, "connection 1 refresh_token")
	if again == sealed {
		t.Errorf("two seals of one value are equal; nonces are not random")
	}
}

func TestOpenFailures(t *testing.T) {
	k1, k2 := newKey(t), newKey(t)
	kr1, _ := NewKeyring(k1)
	kr2, _ := NewKeyring(k2)
	sealed, _ := kr1.Seal("token", "ctx")
	tests := []struct {
		name    string
		kr      *Keyring
		value   string
		context string
		noKey   bool
	}{
		{"nil keyring", nil, sealed, "ctx", true},
		{"other key", kr2, sealed, "ctx", true},
		{"moved to another context", kr1, sealed, "other", false},
		{"tampered", kr1, sealed[:len(sealed)-2] + "AA", "ctx", false},
		{"garbage", kr1, "seal:v1:" + kr1.CurrentID() + ":!!", "ctx", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.kr.Open(tt.value, tt.context)
			if err == nil {
				t.Fatalf("Open = %q, want an error", got)
			}
			if errors.Is(err, ErrNoKey) != tt.noKey {
				t.Errorf("errors.Is(err, ErrNoKey) = %v, want %v (err %v)", !tt.noKey, tt.noKey, err)
			}
			if strings.Contains(err.Error(), "token") {
				t.Errorf("error %q leaks the plaintext", err)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	oldKey, newKeyB := newKey(t), newKey(t)
	oldRing, _ := NewKeyring(oldKey)
	sealed, _ := oldRing.Seal("secret", "c")
	ring, err := NewKeyring(newKeyB, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ring.Open(sealed, "c")
	if err != nil || got != "secret" {
		t.Fatalf("Open with the old key in the ring = %q, %v", got, err)
	}
	resealed, _ := ring.Seal(got, "c")
	if KeyIDOf(resealed) != ID(newKeyB) {
		t.Errorf("resealed with %s, want the current key %s", KeyIDOf(resealed), ID(newKeyB))
	}
}

func TestNilKeyringPassesPlaintext(t *testing.T) {
	var kr *Keyring
	s, err := kr.Seal("plain", "c")
	if err != nil || s != "plain" {
		t.Errorf("Seal = %q, %v; want plain", s, err)
	}
	s, err = kr.Open("plain", "c")
	if err != nil || s != "plain" {
		t.Errorf("Open = %q, %v; want plain", s, err)
	}
}

func TestParseKey(t *testing.T) {
	k := newKey(t)
	for name, s := range map[string]string{
		"hex":        hex.EncodeToString(k),
		"base64":     base64.StdEncoding.EncodeToString(k),
		"base64 url": base64.RawURLEncoding.EncodeToString(k),
		"spaces":     " " + base64.StdEncoding.EncodeToString(k) + "\n",
	} {
		got, err := ParseKey(s)
		if err != nil || !bytes.Equal(got, k) {
			t.Errorf("%s: ParseKey = %x, %v; want %x", name, got, err, k)
		}
	}
	for _, s := range []string{"", "short", hex.EncodeToString(k[:16])} {
		if _, err := ParseKey(s); err == nil {
			t.Errorf("ParseKey(%q) succeeded, want an error", s)
		}
	}
}
