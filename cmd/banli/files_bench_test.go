package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// BenchmarkFiles moves the 20 MiB sealed letter up and down, over gRPC
// and REST, through the real server: every upload is hashed, sniffed,
// synced and recorded. It reports MB/s.
func BenchmarkFiles(b *testing.B) {
	f := newFixture(b)
	letter := fakePDF(20<<20, 5)
	officeKey := f.officeKey(b)
	var parent string
	newCase := func(i int) {
		parent = must(f.proposals.CreateProposal(office, benchProposal(f, int64(i))))(b).GetName()
	}
	newCase(0)
	up := func(i int, via func() error) {
		if i%150 == 0 { // a case takes 200 files
			newCase(i/150 + 1)
		}
		if err := via(); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("upload/grpc", func(b *testing.B) {
		b.SetBytes(int64(len(letter)))
		for i := range b.N {
			up(i+1, func() error {
				_, err := f.uploadFile(office, &banliv1.FileUpload{Parent: parent, FileName: "答复函.pdf"}, letter, 1<<20)
				return err
			})
		}
	})
	b.Run("upload/rest", func(b *testing.B) {
		b.SetBytes(int64(len(letter)))
		for i := range b.N {
			up(i+1, func() error {
				if code, body := f.restUpload(b, officeKey, parent, "file_name=letter.pdf", "application/pdf", letter); code != http.StatusOK {
					return fmt.Errorf("HTTP %d: %s", code, body)
				}
				return nil
			})
		}
	})
	file := must(f.uploadFile(office, &banliv1.FileUpload{Parent: parent, FileName: "答复函.pdf"}, letter, 1<<20))(b).GetName()
	b.Run("download/grpc", func(b *testing.B) {
		b.SetBytes(int64(len(letter)))
		for range b.N {
			stream := must(f.proposals.DownloadFile(office, &banliv1.DownloadFileRequest{Name: file}))(b)
			n := 0
			for {
				chunk, err := stream.Recv()
				if err == io.EOF {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
				n += len(chunk.GetData())
			}
			if n != len(letter) {
				b.Fatalf("%d bytes", n)
			}
		}
	})
	b.Run("download/rest", func(b *testing.B) {
		b.SetBytes(int64(len(letter)))
		for range b.N {
			req := must(http.NewRequest("GET", "http://"+f.addrs.HTTPAddr+"/v1/"+file+":download", nil))(b)
			req.Header.Set("Authorization", "Bearer "+officeKey)
			resp := must(http.DefaultClient.Do(req))(b)
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || n != int64(len(letter)) {
				b.Fatalf("HTTP %d, %d bytes", resp.StatusCode, n)
			}
		}
	})
}

// TestUploadIsStreamed: the server holds a chunk or two of an upload in
// memory, never the whole file. The binary runs as its own process, with
// GOGC=25 so that the chunks already written are collected within a
// quarter of the live heap (the server's default, 400, lets 20 MiB of
// them wait for the next collection, which says nothing about buffering);
// its peak resident memory (VmHWM) is read before and after 20 MiB
// uploads over gRPC and over REST. Holding one upload whole would raise it
// by at least 20 MiB.
func TestUploadIsStreamed(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc to read a process's memory")
	}
	p := startProcess(t, filepath.Join(t.TempDir(), "banli.db"), "GOGC=25")
	conn, acting := p.dialActing(t)
	proposals := banliv1.NewProposalServiceClient(conn)
	session := must(banliv1.NewSessionServiceClient(conn).CreateSession(office, &banliv1.CreateSessionRequest{Session: &banliv1.Session{
		Body: banliv1.Body_BODY_CPPCC, Level: banliv1.Level_LEVEL_CITY, Term: 7, Meeting: 1, Year: 2021, DisplayName: "rss"}}))(t).GetName()
	c := must(proposals.CreateProposal(office, &banliv1.CreateProposalRequest{Proposal: &banliv1.Proposal{
		Session: session, Kind: banliv1.ProposalKind_PROPOSAL_KIND_CPPCC_PROPOSAL, Number: "R1",
		Period: banliv1.SubmissionPeriod_SUBMISSION_PERIOD_DURING_MEETING, Title: "内存", Content: "内容",
		Proposers: []*banliv1.Proposer{{Type: banliv1.ProposerType_PROPOSER_TYPE_PERSON, DisplayName: "王委员"}},
	}}))(t)
	hwm := func() int64 {
		s := must(os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid)))(t)
		defer s.Close()
		lines := bufio.NewScanner(s)
		for lines.Scan() {
			if rest, ok := strings.CutPrefix(lines.Text(), "VmHWM:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
				return kb << 10
			}
		}
		t.Fatal("no VmHWM")
		return 0
	}
	// Warm up: the first upload's buffers and code pages.
	small := fakePDF(2<<20, 1)
	must(uploadVia(office, proposals, &banliv1.FileUpload{Parent: c.GetName(), FileName: "warm.pdf"}, small, 1<<20))(t)
	before := hwm()
	for i := range 2 {
		must(uploadVia(office, proposals, &banliv1.FileUpload{Parent: c.GetName(), FileName: "letter.pdf"}, fakePDF(20<<20, uint64(10+i)), 1<<20))(t)
	}
	afterGRPC := hwm()
	req := must(http.NewRequest("POST", "http://"+p.httpAddr+"/v1/"+c.GetName()+"/files:upload?file_name=letter2.pdf", bytes.NewReader(fakePDF(20<<20, 3))))(t)
	req.Header.Set("Content-Type", "application/pdf")
	req.Header.Set("Authorization", "Bearer "+must(acting.Key(context.Background(), "office", banliv1.Role_ROLE_OFFICE, ""))(t))
	resp := must(http.DefaultClient.Do(req))(t)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("REST upload: HTTP %d", resp.StatusCode)
	}
	afterREST := hwm()
	t.Logf("server peak RSS: %.1f MiB before, %.1f MiB after two 20 MiB gRPC uploads (+%.1f), %.1f MiB after a 20 MiB REST upload (+%.1f)",
		mib(before), mib(afterGRPC), mib(afterGRPC-before), mib(afterREST), mib(afterREST-afterGRPC))
	if grew := afterREST - before; grew >= 20<<20 {
		t.Errorf("peak RSS grew by %.1f MiB over three 20 MiB uploads: an upload is held whole", mib(grew))
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }
