package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Delivery is one webhook delivery as Exact POSTs it (docs/exact-online.md §3.14):
// {"Content":{"Topic":…,"ClientId":…,"Division":…,"Action":…,"Key":…,
// "ExactOnlineEndpoint":…,"EventCreatedOn":…},"HashCode":"<HEX>"}.
type Delivery struct {
	// Content is the Content object's bytes exactly as received, from its opening to its
	// closing brace: what the HashCode signs.
	Content  []byte
	HashCode string // "" when the delivery has none

	Topic     string
	ClientID  string
	Division  int
	Action    string // Create, Update or Delete
	Key       string // the changed record's key; never fetched
	Endpoint  string // ExactOnlineEndpoint
	CreatedOn string // EventCreatedOn, as sent
}

// Actions of a delivery.
const (
	ActionCreate = "Create"
	ActionUpdate = "Update"
	ActionDelete = "Delete"
)

// Parse reads a delivery. The body must be one JSON object with exactly one "Content"
// object and at most one "HashCode" string (other members are ignored); Content must name a
// topic and a positive division. Parse does not check the signature: see Verify.
func Parse(body []byte) (Delivery, error) {
	var d Delivery
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return d, errors.New("not a JSON object")
	}
	haveHash := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return d, fmt.Errorf("reading a member name: %w", err)
		}
		name, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return d, fmt.Errorf("reading member %q: %w", name, err)
		}
		switch name {
		case "Content":
			if d.Content != nil {
				return d, errors.New(`two "Content" members`)
			}
			if len(raw) == 0 || raw[0] != '{' {
				return d, errors.New(`"Content" is not an object`)
			}
			d.Content = raw // the bytes as received: json.RawMessage takes the input verbatim
		case "HashCode":
			if haveHash {
				return d, errors.New(`two "HashCode" members`)
			}
			haveHash = true
			if err := json.Unmarshal(raw, &d.HashCode); err != nil {
				return d, errors.New(`"HashCode" is not a string`)
			}
		}
	}
	if _, err := dec.Token(); err != nil {
		return d, fmt.Errorf("reading the end of the object: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return d, errors.New("data after the delivery object")
	}
	if d.Content == nil {
		return d, errors.New(`no "Content" member`)
	}
	var c struct {
		Topic               string          `json:"Topic"`
		ClientID            string          `json:"ClientId"`
		Division            json.RawMessage `json:"Division"`
		Action              string          `json:"Action"`
		Key                 string          `json:"Key"`
		ExactOnlineEndpoint string          `json:"ExactOnlineEndpoint"`
		EventCreatedOn      json.RawMessage `json:"EventCreatedOn"`
	}
	if err := json.Unmarshal(d.Content, &c); err != nil {
		return d, fmt.Errorf("reading Content: %w", err)
	}
	div, err := strconv.Atoi(strings.Trim(string(c.Division), `"`))
	if err != nil || div <= 0 {
		return d, fmt.Errorf("Content: Division %s is not a division code", c.Division)
	}
	if strings.TrimSpace(c.Topic) == "" {
		return d, errors.New("Content: no Topic")
	}
	d.Topic, d.ClientID, d.Division, d.Action, d.Key, d.Endpoint = c.Topic, c.ClientID, div, c.Action, c.Key, c.ExactOnlineEndpoint
	d.CreatedOn = strings.Trim(string(c.EventCreatedOn), `"`)
	return d, nil
}

// Sign returns the HashCode of a Content text: the upper-case hex HMAC-SHA256 keyed with
// the webhook secret (§3.14).
func Sign(secret, content []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(content)
	return strings.ToUpper(hex.EncodeToString(m.Sum(nil)))
}

// Verify reports whether d's HashCode signs its Content with secret, comparing in constant
// time. A delivery without HashCode, or with one in lower case, is not verified.
func Verify(secret []byte, d Delivery) bool {
	if d.HashCode == "" || len(secret) == 0 {
		return false
	}
	return hmac.Equal([]byte(Sign(secret, d.Content)), []byte(d.HashCode))
}
