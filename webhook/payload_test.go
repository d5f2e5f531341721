package webhook

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

var testSecret = []byte("whsec-Zsekrit-0123456789")

// body builds a delivery the way Exact does: the Content text as given, signed as is.
func body(secret []byte, content string) []byte {
	return []byte(`{"Content":` + content + `,"HashCode":"` + Sign(secret, []byte(content)) + `"}`)
}

// TestVerifySignsTheRawContent checks that the signature is checked over the Content bytes
// as received, also where re-serializing them would give other bytes.
func TestVerifySignsTheRawContent(t *testing.T) {
	for _, tt := range []struct{ name, content string }{
		{"compact", `{"Topic":"Accounts","ClientId":"c","Division":101,"Action":"Update","Key":"0c8d4f2e-0000-4000-8000-000000000001"}`},
		{"whitespace", "{ \"Topic\" : \"Accounts\",\n\t\"Division\" : 101 ,\"Action\":\"Update\" }"},
		{"key order", `{"Division":101,"Action":"Update","Topic":"Accounts","ClientId":"c"}`},
		{"escapes", `{"Topic":"Accounts","Division":101,"ExactOnlineEndpoint":"https:\/\/start.exactonline.nl\/api\/v1\/101\/crm\/Accounts(guid'x')","Note":"caf\u00e9 \u003c\u003e"}`},
		{"division as string", `{"Topic":"Accounts","Division":"101"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse(body(testSecret, tt.content))
			if err != nil {
				t.Fatal(err)
			}
			if string(d.Content) != tt.content {
				t.Errorf("Content %q, want the bytes as sent %q", d.Content, tt.content)
			}
			if !Verify(testSecret, d) {
				t.Errorf("Verify = false, want true")
			}
			if d.Topic != "Accounts" || d.Division != 101 {
				t.Errorf("topic %q division %d", d.Topic, d.Division)
			}
			// A signature over the re-serialized Content does not verify when the bytes differ.
			var v map[string]any
			_ = json.Unmarshal([]byte(tt.content), &v)
			again, _ := json.Marshal(v)
			if !bytes.Equal(again, []byte(tt.content)) {
				d2 := d
				d2.HashCode = Sign(testSecret, again)
				if Verify(testSecret, d2) {
					t.Errorf("a signature over the re-serialized Content verified")
				}
			}
		})
	}
	// HashCode before Content: the order of the members does not matter.
	content := `{"Topic":"Items","Division":7}`
	d, err := Parse([]byte(`{"HashCode":"` + Sign(testSecret, []byte(content)) + `","Content":` + content + `}`))
	if err != nil || !Verify(testSecret, d) {
		t.Errorf("HashCode first: %v, verified %t", err, Verify(testSecret, d))
	}
}

func TestVerifyRejects(t *testing.T) {
	content := `{"Topic":"Accounts","Division":101}`
	good := Sign(testSecret, []byte(content))
	for name, b := range map[string]string{
		"missing":      `{"Content":` + content + `}`,
		"empty":        `{"Content":` + content + `,"HashCode":""}`,
		"lower case":   `{"Content":` + content + `,"HashCode":"` + strings.ToLower(good) + `"}`,
		"other secret": `{"Content":` + content + `,"HashCode":"` + Sign([]byte("other"), []byte(content)) + `"}`,
		"tampered":     `{"Content":{"Topic":"Accounts","Division":102},"HashCode":"` + good + `"}`,
	} {
		d, err := Parse([]byte(b))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if Verify(testSecret, d) {
			t.Errorf("%s: verified", name)
		}
	}
	for name, b := range map[string]string{
		"not JSON":         `Content=1`,
		"array":            `[1]`,
		"no content":       `{"HashCode":"AB"}`,
		"content a string": `{"Content":"{}","HashCode":"AB"}`,
		"two contents":     `{"Content":{"Topic":"A","Division":1},"Content":{"Topic":"A","Division":1}}`,
		"trailing data":    `{"Content":{"Topic":"A","Division":1}} {}`,
		"no division":      `{"Content":{"Topic":"A"}}`,
		"no topic":         `{"Content":{"Division":1}}`,
		"hash a number":    `{"Content":{"Topic":"A","Division":1},"HashCode":12}`,
	} {
		if _, err := Parse([]byte(b)); err == nil {
			t.Errorf("%s: Parse accepted %s", name, b)
		}
	}
}

// FuzzParse checks the payload parser on any body: it never panics; what it accepts has a
// Content that is a JSON object found verbatim in the body, and verifies exactly when
// signed with the secret over those bytes.
func FuzzParse(f *testing.F) {
	f.Add(body(testSecret, `{"Topic":"Accounts","ClientId":"c","Division":101,"Action":"Update","Key":"k","ExactOnlineEndpoint":"https://x","EventCreatedOn":"2026-01-05T10:00:00.000"}`))
	f.Add(body(testSecret, "{ \"Topic\" : \"Items\" , \"Division\" : \"7\" }"))
	f.Add([]byte(`{"HashCode":"00","Content":{"Topic":"A","Division":1},"x":[1,{"y":null}]}`))
	f.Add([]byte(`{"Content":{"Topic":"A","Division":1e3}}`))
	f.Add([]byte(``))
	f.Add([]byte(`{"Content":{"Topic":"\ud800","Division":-1}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Parse(b)
		if err != nil {
			return
		}
		if !json.Valid(d.Content) || d.Content[0] != '{' || !bytes.Contains(b, d.Content) {
			t.Fatalf("Content %q is not an object of the body %q", d.Content, b)
		}
		if d.Division <= 0 || strings.TrimSpace(d.Topic) == "" {
			t.Fatalf("accepted division %d topic %q", d.Division, d.Topic)
		}
		if Verify(testSecret, d) != (d.HashCode == Sign(testSecret, d.Content)) {
			t.Fatalf("Verify disagrees with Sign for %q", b)
		}
		d.HashCode = Sign(testSecret, d.Content)
		if !Verify(testSecret, d) {
			t.Fatalf("a delivery signed over its Content does not verify")
		}
	})
}
