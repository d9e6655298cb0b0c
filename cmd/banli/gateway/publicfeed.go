package gateway

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"net/http"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// The public feed's REST routes: the JSON list, and the same list as
// Atom (RFC 4287). Both are answered with an ETag (a hash of the body),
// and a request whose If-None-Match names it gets 304.
const (
	PublicRepliesPattern = "/v1/public/replies"
	PublicAtomPattern    = "/v1/public/replies.atom"
)

// PublicReplies serves the two routes through the gateway's mux, which
// makes the call (ListPublishedReplies needs no sign-in) on the JSON
// route; the Atom route asks it the same and rewrites the answer as a
// feed. The Atom route is not a binding of the method: what it answers is
// not the method's JSON, and the OpenAPI document declares it as its own
// operation (proto/banli/v1/openapi3.yaml).
func PublicReplies(rest http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answer := &bufferedAnswer{header: http.Header{}, status: http.StatusOK}
		call := r
		if r.URL.Path == PublicAtomPattern {
			call = r.Clone(r.Context())
			call.URL.Path, call.URL.RawPath = PublicRepliesPattern, ""
		}
		rest.ServeHTTP(answer, call)
		body, header := answer.body.Bytes(), answer.header
		if r.URL.Path == PublicAtomPattern && answer.status == http.StatusOK {
			atom, err := atomFeed(r, body)
			if err != nil {
				http.Error(w, "the feed could not be written", http.StatusInternalServerError)
				return
			}
			body = atom
			header.Set("Content-Type", "application/atom+xml; charset=utf-8")
		}
		for k, v := range header {
			w.Header()[k] = v
		}
		if answer.status == http.StatusOK {
			sum := sha256.Sum256(body)
			etag := `"` + hex.EncodeToString(sum[:16]) + `"`
			w.Header().Set("ETag", etag)
			w.Header().Set("Cache-Control", "public, max-age=60")
			if r.Header.Get("If-None-Match") == etag {
				w.Header().Del("Content-Length")
				w.WriteHeader(http.StatusNotModified)
				return
			}
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(answer.status)
		w.Write(body)
	})
}

// bufferedAnswer holds an answer whole, so that its hash can be its ETag.
type bufferedAnswer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedAnswer) Header() http.Header         { return b.header }
func (b *bufferedAnswer) Write(p []byte) (int, error) { return b.body.Write(p) }
func (b *bufferedAnswer) WriteHeader(status int)      { b.status = status }

// The Atom document.
type atomDocument struct {
	XMLName xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	Lang    string      `xml:"xml:lang,attr"`
	ID      string      `xml:"id"`
	Title   string      `xml:"title"`
	Updated string      `xml:"updated"`
	Links   []atomLink  `xml:"link"`
	Entries []atomEntry `xml:"entry"`
}

type atomLink struct {
	Rel  string `xml:"rel,attr"`
	Href string `xml:"href,attr"`
}

type atomEntry struct {
	ID       string       `xml:"id"`
	Title    string       `xml:"title"`
	Updated  string       `xml:"updated"`
	Author   atomAuthor   `xml:"author"`
	Category atomCategory `xml:"category"`
	Content  atomContent  `xml:"content"`
}

type atomAuthor struct {
	Name string `xml:"name"`
}

type atomCategory struct {
	Term string `xml:"term,attr"`
}

type atomContent struct {
	Type string `xml:"type,attr"`
	Text string `xml:",chardata"`
}

// atomFeed writes a page of the list (its JSON answer) as an Atom feed:
// an entry per reply, under its case's number and title, by its unit, in
// its session, with the published text; a next link to the next page.
func atomFeed(r *http.Request, answer []byte) ([]byte, error) {
	page := &banliv1.ListPublishedRepliesResponse{}
	if err := protojson.Unmarshal(answer, page); err != nil {
		return nil, err
	}
	self := *r.URL
	feed := atomDocument{
		Lang: "zh-CN", ID: "urn:banli:public-replies", Title: "建议提案办理结果公开",
		Links: []atomLink{{Rel: "self", Href: self.RequestURI()}},
	}
	var latest time.Time
	for _, reply := range page.GetReplies() {
		published := reply.GetPublishTime().AsTime()
		if published.After(latest) {
			latest = published
		}
		feed.Entries = append(feed.Entries, atomEntry{
			ID:       "urn:banli:" + reply.GetReply(),
			Title:    reply.GetNumber() + " " + reply.GetTitle(),
			Updated:  published.Format(time.RFC3339),
			Author:   atomAuthor{Name: reply.GetUnitDisplayName()},
			Category: atomCategory{Term: reply.GetSessionDisplayName()},
			Content:  atomContent{Type: "text", Text: reply.GetPublishedText()},
		})
	}
	if latest.IsZero() {
		latest = time.Unix(0, 0)
	}
	feed.Updated = latest.UTC().Format(time.RFC3339)
	if token := page.GetNextPageToken(); token != "" {
		next := self
		q := next.Query()
		q.Set("pageToken", token)
		next.RawQuery = q.Encode()
		feed.Links = append(feed.Links, atomLink{Rel: "next", Href: next.RequestURI()})
	}
	out, err := xml.MarshalIndent(feed, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), out...), nil
}
