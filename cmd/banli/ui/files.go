package ui

import (
	"cmp"
	"errors"
	"io"
	"mime"
	"net/http"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// file sends an attached file, as the caller may download it
// (DownloadFile), always as a download: a file is never shown as a page of
// this site.
func (h *Handler) file(w http.ResponseWriter, r *http.Request, c *caller) {
	name := "proposals/" + r.PathValue("id") + "/files/" + r.PathValue("file")
	stream, err := proposals(h).DownloadFile(c.ctx, &banliv1.DownloadFileRequest{Name: name})
	if err != nil {
		h.fail(w, r, c, err)
		return
	}
	first, err := stream.Recv()
	if err != nil && !errors.Is(err, io.EOF) {
		h.fail(w, r, c, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": cmp.Or(r.URL.Query().Get("as"), "file")}))
	if first == nil {
		return
	}
	w.Write(first.GetData())
	for {
		chunk, err := stream.Recv()
		if err != nil {
			return // the headers are sent: a broken download shows as one
		}
		w.Write(chunk.GetData())
	}
}
