package service

import (
	"archive/zip"
	"bytes"
	"io"
	"mime"
	"strings"
	"unicode/utf16"
)

// The file types a case may carry: the letters, scans and forms of the
// work, and nothing else (no archives, no programs, no web pages). A
// file's type is read from its bytes (sniffMediaType); a name or a
// declared type is never believed on its own.
const (
	mediaPDF  = "application/pdf"
	mediaOFD  = "application/ofd" // GB/T 33190, the national format for e-documents
	mediaJPEG = "image/jpeg"
	mediaPNG  = "image/png"
	mediaTIFF = "image/tiff"
	mediaDOC  = "application/msword"
	mediaXLS  = "application/vnd.ms-excel"
	mediaPPT  = "application/vnd.ms-powerpoint"
	mediaDOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
	mediaXLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	mediaPPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
)

// acceptedFileTypes is said in refusals.
const acceptedFileTypes = "PDF, OFD, JPEG, PNG, TIFF, or a Word, Excel or PowerPoint document"

var (
	oleMagic = []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}
	pngMagic = []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'}
)

// oleStreams tell the old Office formats apart: a compound file names its
// main stream in its directory, in UTF-16.
var oleStreams = []struct {
	name, media string
}{
	{"WordDocument", mediaDOC},
	{"Workbook", mediaXLS},
	{"Book", mediaXLS},
	{"PowerPoint Document", mediaPPT},
}

// zipParts tell the zip-based formats apart by the part each must have.
var zipParts = []struct {
	name, media string
}{
	{"word/document.xml", mediaDOCX},
	{"xl/workbook.xml", mediaXLSX},
	{"ppt/presentation.xml", mediaPPTX},
	{"OFD.xml", mediaOFD},
}

// sniffMediaType says what the size bytes of r are, or "" if they are
// none of the accepted types.
func sniffMediaType(r io.ReaderAt, size int64) string {
	head := make([]byte, min(size, 512))
	if _, err := r.ReadAt(head, 0); err != nil && err != io.EOF {
		return ""
	}
	switch {
	case bytes.HasPrefix(head, []byte("%PDF-")):
		return mediaPDF
	case bytes.HasPrefix(head, []byte{0xFF, 0xD8, 0xFF}):
		return mediaJPEG
	case bytes.HasPrefix(head, pngMagic):
		return mediaPNG
	case bytes.HasPrefix(head, []byte("II*\x00")), bytes.HasPrefix(head, []byte("MM\x00*")):
		return mediaTIFF
	case bytes.HasPrefix(head, oleMagic):
		return sniffOLE(r, size)
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return sniffZip(r, size)
	}
	return ""
}

func sniffOLE(r io.ReaderAt, size int64) string {
	body, err := io.ReadAll(io.NewSectionReader(r, 0, size))
	if err != nil {
		return ""
	}
	for _, s := range oleStreams {
		if bytes.Contains(body, utf16LE(s.name+"\x00")) {
			return s.media
		}
	}
	return ""
}

func sniffZip(r io.ReaderAt, size int64) string {
	z, err := zip.NewReader(r, size)
	if err != nil {
		return ""
	}
	for _, part := range zipParts {
		for _, f := range z.File {
			if f.Name == part.name {
				return part.media
			}
		}
	}
	return ""
}

func utf16LE(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u), byte(u>>8))
	}
	return b
}

// sameMediaType compares a declared type with a sniffed one, ignoring
// case and parameters ("application/PDF; x=y" is application/pdf).
func sameMediaType(declared, sniffed string) bool {
	t, _, err := mime.ParseMediaType(declared)
	if err != nil {
		return false
	}
	return strings.EqualFold(t, sniffed)
}
