package sink

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
)

// scramIterations is PostgreSQL's default scram_iterations.
const scramIterations = 4096

// scramVerifier returns the SCRAM-SHA-256 verifier PostgreSQL stores for password
// (RFC 5802, RFC 7677), so that CREATE ROLE … PASSWORD carries the verifier and never the
// password, which PostgreSQL would otherwise write to its log with the statement (as
// psql's \password does). The password must be printable ASCII, where SASLprep, which
// PostgreSQL and its clients apply to a password first, changes nothing.
func scramVerifier(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("reading a random salt: %w", err)
	}
	return scramVerifierSalt(password, salt, scramIterations)
}

func scramVerifierSalt(password string, salt []byte, iterations int) (string, error) {
	if password == "" {
		return "", fmt.Errorf("%w: it is empty", ErrReaderPassword)
	}
	for _, c := range []byte(password) {
		if c < 0x20 || c > 0x7e {
			return "", fmt.Errorf("%w: it has characters other than printable ASCII; use one of letters, digits and punctuation, e.g. from `openssl rand -base64 24`", ErrReaderPassword)
		}
	}
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return "", err
	}
	clientKey := hmacSHA256(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	serverKey := hmacSHA256(salted, "Server Key")
	b64 := base64.StdEncoding.EncodeToString
	return "SCRAM-SHA-256$" + strconv.Itoa(iterations) + ":" + b64(salt) + "$" + b64(storedKey[:]) + ":" + b64(serverKey), nil
}

func hmacSHA256(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}
