package service

import (
	"archive/zip"
	"bytes"
	"testing"
)

func zipWith(t *testing.T, names ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	z := zip.NewWriter(&buf)
	for _, n := range names {
		w, _ := z.Create(n)
		w.Write([]byte("<x/>"))
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestSniffMediaType: a file's type is read from its bytes; an archive or
// a program is none of the accepted types, whatever its name.
func TestSniffMediaType(t *testing.T) {
	ole := func(stream string) []byte {
		b := append([]byte{}, oleMagic...)
		b = append(b, make([]byte, 1024)...)
		return append(b, utf16LE(stream+"\x00")...)
	}
	for _, c := range []struct {
		name    string
		content []byte
		want    string
	}{
		{"PDF", []byte("%PDF-1.4\n..."), mediaPDF},
		{"JPEG", []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10}, mediaJPEG},
		{"PNG", append(append([]byte{}, pngMagic...), 0, 0, 0, 13), mediaPNG},
		{"TIFF", []byte("II*\x00\x08\x00"), mediaTIFF},
		{"Word 97", ole("WordDocument"), mediaDOC},
		{"Excel 97", ole("Workbook"), mediaXLS},
		{"PowerPoint 97", ole("PowerPoint Document"), mediaPPT},
		{"an OLE file of another kind", ole("Contents"), ""},
		{"docx", zipWith(t, "[Content_Types].xml", "word/document.xml"), mediaDOCX},
		{"xlsx", zipWith(t, "[Content_Types].xml", "xl/workbook.xml"), mediaXLSX},
		{"pptx", zipWith(t, "[Content_Types].xml", "ppt/presentation.xml"), mediaPPTX},
		{"OFD", zipWith(t, "OFD.xml", "Doc_0/Document.xml"), mediaOFD},
		{"a zip of anything", zipWith(t, "run.exe"), ""},
		{"a program", []byte("MZ\x90\x00\x03"), ""},
		{"a web page", []byte("<!DOCTYPE html><html>"), ""},
		{"text", []byte("答复函"), ""},
	} {
		if got := sniffMediaType(bytes.NewReader(c.content), int64(len(c.content))); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	if !sameMediaType("Application/PDF; q=1", mediaPDF) || sameMediaType("image/png", mediaPDF) {
		t.Error("sameMediaType")
	}
}
