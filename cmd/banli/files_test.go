package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/banli/banli/cmd/banli/cli"
	"github.com/banli/banli/cmd/banli/datatool"
	"github.com/banli/banli/cmd/banli/load"
	"github.com/banli/banli/cmd/banli/server"
	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// fakePDF is n bytes that read as a PDF: its header, then noise that does
// not compress, then its trailer.
func fakePDF(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	copy(b, "%PDF-1.7\n")
	copy(b[n-6:], "%%EOF\n")
	return b
}

// fakePNG is n bytes that read as a PNG.
func fakePNG(n int) []byte {
	b := bytes.Repeat([]byte{0x42}, n)
	copy(b, "\x89PNG\r\n\x1a\n")
	return b
}

func hexSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// uploadFile sends content to UploadFile in chunks of chunk bytes, after
// head.
func (ts *testServer) uploadFile(ctx context.Context, head *banliv1.FileUpload, content []byte, chunk int) (*banliv1.Attachment, error) {
	return uploadVia(ctx, ts.proposals, head, content, chunk)
}

func uploadVia(ctx context.Context, c banliv1.ProposalServiceClient, head *banliv1.FileUpload, content []byte, chunk int) (*banliv1.Attachment, error) {
	stream, err := c.UploadFile(ctx)
	if err != nil {
		return nil, err
	}
	if err := stream.Send(&banliv1.UploadFileRequest{Part: &banliv1.UploadFileRequest_Upload{Upload: head}}); err != nil {
		return stream.CloseAndRecv()
	}
	for len(content) > 0 {
		n := min(chunk, len(content))
		if err := stream.Send(&banliv1.UploadFileRequest{Part: &banliv1.UploadFileRequest_Chunk{Chunk: content[:n]}}); err != nil {
			break
		}
		content = content[n:]
	}
	return stream.CloseAndRecv()
}

// downloadFile reads a whole file over gRPC.
func (ts *testServer) downloadFile(ctx context.Context, name string) ([]byte, string, error) {
	stream, err := ts.proposals.DownloadFile(ctx, &banliv1.DownloadFileRequest{Name: name})
	if err != nil {
		return nil, "", err
	}
	var out []byte
	media := ""
	for {
		chunk, err := stream.Recv()
		if err == io.EOF {
			return out, media, nil
		}
		if err != nil {
			return nil, "", err
		}
		media = chunk.GetContentType()
		out = append(out, chunk.GetData()...)
	}
}

// restUpload posts content to the REST upload route.
func (ts *testServer) restUpload(t testing.TB, key, proposal, query, contentType string, content []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", "http://"+ts.addrs.HTTPAddr+"/v1/"+proposal+"/files:upload?"+query, bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// filesOnDisk counts the kept and the staged contents of a data file's
// file store.
func filesOnDisk(t testing.TB, dataPath string) (kept, staged int) {
	t.Helper()
	root := server.FilesDir(dataPath)
	filepath.WalkDir(filepath.Join(root, "sha256"), func(path string, e os.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			kept++
		}
		return nil
	})
	entries, _ := os.ReadDir(filepath.Join(root, "incoming"))
	return kept, len(entries)
}

// TestFilesOnTheReplysRoad: a unit uploads the sealed letter and attaches
// it to its reply; the proposer downloads it once it is sent, and nothing
// else of the unit's files. Every bad upload is refused with the field
// named, and leaves no record and no file (#13, item 2).
func TestFilesOnTheReplysRoad(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	platform := as(f.account(t, "files-platform", banliv1.Role_ROLE_PROPOSER, ""))
	p := must(f.proposals.CreateProposal(platform, f.receiveRequest("F1")))(t)
	p = f.assign(t, p, part(f.unit(0), roleLead), part(f.unit(1), roleCo))
	lead, co := p.GetAssignments()[0].GetName(), p.GetAssignments()[1].GetName()
	f.sign(t, lead)
	f.sign(t, co)
	f.consult(t, lead)
	staffKey := f.account(t, "files-staff", banliv1.Role_ROLE_UNIT_STAFF, f.unit(0))
	staff := as(staffKey)
	coStaff := as(f.account(t, "files-co-staff", banliv1.Role_ROLE_UNIT_STAFF, f.unit(1)))
	otherStaff := as(f.account(t, "files-other-staff", banliv1.Role_ROLE_UNIT_STAFF, f.unit(2)))

	// The sealed letter, 3 MiB, over gRPC with its size and hash.
	letter := fakePDF(3<<20+17, 1)
	pdf := must(f.uploadFile(staff, &banliv1.FileUpload{Parent: p.GetName(), FileName: "答复函（盖章）.pdf",
		SizeBytes: int64(len(letter)), Sha256: hexSHA256(letter)}, letter, 1<<20))(t)
	if pdf.GetName() != p.GetName()+"/files/1" || pdf.GetMediaType() != "application/pdf" || pdf.GetSizeBytes() != int64(len(letter)) ||
		pdf.GetSha256() != hexSHA256(letter) || pdf.GetUnit() != f.unit(0) || pdf.GetUploader() == "" {
		t.Fatalf("uploaded: %v", pdf)
	}
	// A scan over REST, its type from Content-Type.
	scan := fakePNG(200 << 10)
	code, body := f.restUpload(t, staffKey, p.GetName(), "file_name=scan.png", "image/png", scan)
	if code != http.StatusOK || !strings.Contains(body, `"mediaType":"image/png"`) || !strings.Contains(body, p.GetName()+"/files/2") {
		t.Fatalf("REST upload: %d %s", code, body)
	}

	// Each bad upload names its field and writes nothing.
	history := f.caseEvents(t, p)
	exe := append([]byte("MZ\x90\x00"), bytes.Repeat([]byte{1}, 4096)...)
	for _, bad := range []struct {
		name    string
		ctx     context.Context
		head    *banliv1.FileUpload
		content []byte
		code    codes.Code
		field   string
	}{
		{"a program called a PDF", staff, &banliv1.FileUpload{FileName: "letter.pdf", MediaType: "application/pdf"}, exe, codes.InvalidArgument, "upload.media_type"},
		{"a program", staff, &banliv1.FileUpload{FileName: "letter.pdf"}, exe, codes.InvalidArgument, "chunk"},
		{"a PDF called an image", staff, &banliv1.FileUpload{FileName: "a.png", MediaType: "image/png"}, letter[:4096], codes.InvalidArgument, "upload.media_type"},
		{"over 20 MiB", staff, &banliv1.FileUpload{FileName: "big.pdf"}, fakePDF(20<<20+1, 2), codes.InvalidArgument, "chunk"},
		{"declared over 20 MiB", staff, &banliv1.FileUpload{FileName: "big.pdf", SizeBytes: 20<<20 + 1}, letter[:1024], codes.InvalidArgument, "upload.size_bytes"},
		{"cut short", staff, &banliv1.FileUpload{FileName: "letter.pdf", SizeBytes: int64(len(letter))}, letter[:1<<20], codes.InvalidArgument, "upload.size_bytes"},
		{"a checksum that does not match", staff, &banliv1.FileUpload{FileName: "letter.pdf", Sha256: hexSHA256(letter)}, fakePDF(4096, 3), codes.InvalidArgument, "upload.sha256"},
		{"empty", staff, &banliv1.FileUpload{FileName: "empty.pdf"}, nil, codes.InvalidArgument, "chunk"},
		{"no name", staff, &banliv1.FileUpload{}, letter[:4096], codes.InvalidArgument, "upload.file_name"},
		{"another unit's case", otherStaff, &banliv1.FileUpload{FileName: "letter.pdf"}, letter[:4096], codes.PermissionDenied, ""},
	} {
		head := bad.head
		head.Parent = p.GetName()
		_, err := f.uploadFile(bad.ctx, head, bad.content, 256<<10)
		t.Run(bad.name, func(t *testing.T) { wantCode(t, err, bad.code, bad.field) })
	}
	// A stream that starts with bytes.
	stream := must(f.proposals.UploadFile(staff))(t)
	stream.Send(&banliv1.UploadFileRequest{Part: &banliv1.UploadFileRequest_Chunk{Chunk: letter[:10]}})
	_, err := stream.CloseAndRecv()
	wantCode(t, err, codes.InvalidArgument, "upload")
	// A REST body cut off before its Content-Length.
	conn := must(net.Dial("tcp", f.addrs.HTTPAddr))(t)
	fmt.Fprintf(conn, "POST /v1/%s/files:upload?file_name=cut.pdf HTTP/1.1\r\nHost: banli\r\nAuthorization: Bearer %s\r\nContent-Type: application/pdf\r\nContent-Length: %d\r\n\r\n",
		p.GetName(), staffKey, len(letter))
	conn.Write(letter[:1<<20])
	conn.Close()
	if got := f.caseEvents(t, p); got != history {
		t.Fatalf("refused uploads wrote %d events", got-history)
	}
	// The server may still be reading the cut body: wait for its refusal.
	waitFor(t, func() bool { _, staged := filesOnDisk(t, f.dataPath); return staged == 0 })
	if kept, staged := filesOnDisk(t, f.dataPath); kept != 2 || staged != 0 {
		t.Fatalf("on disk: %d kept, %d staged; want the 2 uploaded and nothing else", kept, staged)
	}

	// The co-handling unit cannot attach the lead's file; the lead attaches
	// its letter to its draft and signs it off.
	_, err = f.proposals.SubmitOpinion(coStaff, &banliv1.SubmitOpinionRequest{Name: co, Opinion: &banliv1.Opinion{Text: "同意", Signer: "王处长",
		Attachments: []*banliv1.Attachment{{Name: pdf.GetName()}}}})
	wantCode(t, err, codes.InvalidArgument, "opinion.attachments[0].name")
	must(f.proposals.SubmitOpinion(coStaff, &banliv1.SubmitOpinionRequest{Name: co, Opinion: &banliv1.Opinion{Text: "同意", Signer: "王处长"}}))(t)
	draft := load.ReplyRequest(lead, banliv1.ReplyCategory_REPLY_CATEGORY_A).GetReply()
	draft.Attachments = []*banliv1.Attachment{{Name: p.GetName() + "/files/9"}}
	_, err = f.proposals.SaveReplyDraft(staff, &banliv1.SaveReplyDraftRequest{Name: lead, Reply: draft})
	wantCode(t, err, codes.InvalidArgument, "reply.attachments[0].name")
	draft.Attachments = []*banliv1.Attachment{{Name: pdf.GetName()}}
	must(f.proposals.SaveReplyDraft(staff, &banliv1.SaveReplyDraftRequest{Name: lead, Reply: draft}))(t)
	p = must(f.proposals.SubmitReply(ctx, &banliv1.SubmitReplyRequest{Name: lead, DraftVersion: 1}))(t)
	sent := p.GetAssignments()[0].GetReplies()[0]
	if len(sent.GetAttachments()) != 1 || sent.GetAttachments()[0].GetSha256() != pdf.GetSha256() || sent.GetAttachments()[0].GetFileName() != "答复函（盖章）.pdf" {
		t.Fatalf("the sent reply attaches %v", sent.GetAttachments())
	}

	// Everyone on the case downloads the letter, over gRPC and REST.
	got, media := must3(f.downloadFile(staff, pdf.GetName()))(t)
	if !bytes.Equal(got, letter) || media != "application/pdf" {
		t.Fatalf("downloaded %d bytes of %s", len(got), media)
	}
	req := must(http.NewRequest("GET", "http://"+f.addrs.HTTPAddr+"/v1/"+pdf.GetName()+":download", nil))(t)
	req.Header.Set("Authorization", "Bearer "+staffKey)
	resp := must(http.DefaultClient.Do(req))(t)
	got, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/pdf" || !bytes.Equal(got, letter) {
		t.Fatalf("REST download: %d %s, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(got))
	}

	// The proposer reads the letter with the reply, not the file register,
	// and downloads only what was sent to it.
	read := must(f.proposals.GetProposal(platform, &banliv1.GetProposalRequest{Name: p.GetName()}))(t)
	if len(read.GetFiles()) != 0 || len(read.GetAssignments()[0].GetReplies()[0].GetAttachments()) != 1 {
		t.Fatalf("the proposer reads files %v and the reply's %v", read.GetFiles(), read.GetAssignments()[0].GetReplies()[0].GetAttachments())
	}
	if got, _, err := f.downloadFile(platform, pdf.GetName()); err != nil || !bytes.Equal(got, letter) {
		t.Fatalf("the proposer downloads the sent letter: %v", err)
	}
	_, _, err = f.downloadFile(platform, p.GetName()+"/files/2")
	wantCode(t, err, codes.PermissionDenied, "")
	_, _, err = f.downloadFile(otherStaff, pdf.GetName())
	wantCode(t, err, codes.PermissionDenied, "")
}

// waitFor polls cond until it holds, for at most 10 seconds.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("gave up waiting")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func must3[A, B any](a A, b B, err error) func(testing.TB) (A, B) {
	return func(t testing.TB) (A, B) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return a, b
	}
}

// TestBackupCarriesFiles: a backup holds the files its data names, a
// restore puts them back beside the data file, and the restored server
// serves them; a backup whose file was changed is refused, and a plain
// data file (a backup from before files) still restores.
func TestBackupCarriesFiles(t *testing.T) {
	f := newFixture(t)
	p := f.assign(t, f.receive(t), part(f.unit(0), roleLead))
	letter := fakePDF(2<<20+5, 7)
	pdf := must(f.uploadFile(context.Background(), &banliv1.FileUpload{Parent: p.GetName(), FileName: "答复函.pdf"}, letter, 1<<20))(t)
	dir := t.TempDir()
	backup := filepath.Join(dir, "backup.tar")
	if _, err := cli.Backup(context.Background(), f.clientAs(t, f.adminKey), backup, server.CheckBackup); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "restored", "banli.db")
	if _, err := datatool.Restore(server.DataFiles{}, backup, target); err != nil {
		t.Fatal(err)
	}
	if kept, staged := filesOnDisk(t, target); kept != 1 || staged != 0 {
		t.Fatalf("restored: %d kept, %d staged", kept, staged)
	}
	f.stop()
	// The keys are kept apart from backups; an operator puts them back.
	for _, key := range []string{"audit.key", "admin.key"} {
		os.WriteFile(filepath.Join(filepath.Dir(target), key), must(os.ReadFile(filepath.Join(filepath.Dir(f.dataPath), key)))(t), 0o600)
	}
	restored := startServer(t, func(c *server.Config) { c.DataPath = target })
	got, media := must3(restored.downloadFile(context.Background(), pdf.GetName()))(t)
	if !bytes.Equal(got, letter) || media != "application/pdf" {
		t.Fatalf("the restored server serves %d bytes of %s", len(got), media)
	}

	// One byte of the letter changed in the archive: refused, and the
	// data file in place is untouched.
	raw := must(os.ReadFile(backup))(t)
	at := bytes.Index(raw, letter[100:200])
	raw[at] ^= 1
	tampered := filepath.Join(dir, "tampered.tar")
	os.WriteFile(tampered, raw, 0o600)
	other := filepath.Join(dir, "other", "banli.db")
	if _, err := datatool.Restore(server.DataFiles{}, tampered, other); err == nil || !strings.Contains(err.Error(), "hashes to") {
		t.Fatalf("a changed file restored: %v", err)
	}
	if _, err := os.Stat(other); !os.IsNotExist(err) {
		t.Fatalf("a refused restore left %s: %v", other, err)
	}
}

// TestStandbyHoldsTheFiles: a standby fetches the files the primary's
// cases name before it applies them, and serves them.
func TestStandbyHoldsTheFiles(t *testing.T) {
	f := newFixture(t)
	standby := startStandby(t, f.testServer)
	p := f.assign(t, f.receive(t), part(f.unit(0), roleLead))
	letter := fakePDF(3<<20, 11)
	pdf := must(f.uploadFile(context.Background(), &banliv1.FileUpload{Parent: p.GetName(), FileName: "答复函.pdf"}, letter, 1<<20))(t)
	var got []byte
	waitFor(t, func() bool {
		var err error
		got, _, err = standby.downloadFile(as(f.officeKey(t)), pdf.GetName())
		return err == nil
	})
	if !bytes.Equal(got, letter) {
		t.Fatalf("the standby serves %d bytes, not the letter", len(got))
	}
	if kept, staged := filesOnDisk(t, standby.dataPath); kept != 1 || staged != 0 {
		t.Fatalf("the standby holds %d kept, %d staged", kept, staged)
	}
}
