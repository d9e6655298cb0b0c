package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
)

// Files uploaded to a case: the sealed letter, scans, feedback forms. The
// bytes go to the store's Files (beside the data file), the metadata to
// the case's `files`, and records attach them by name. An upload stages
// the bytes (written whole and synced) before the case records the file,
// and keeps them only once that record has committed: a refused upload
// leaves nothing, and a crash between the two is finished by Recover when
// the server next opens.

const (
	// maxFileBytes is the most one file may hold.
	maxFileBytes = 20 << 20
	// maxFileChunk is the most one upload message may carry.
	maxFileChunk = 1 << 20
	// maxRecordAttachments is the most files one record may attach.
	maxRecordAttachments = 10
	// filesCollection names a case's files: proposals/7/files/2.
	filesCollection = "files"
)

func fileName(proposal uint64, n int) string {
	return fmt.Sprintf("proposals/%d/files/%d", proposal, n)
}

// ErrNoFiles: this server keeps no files (it was started without a file
// store).
var ErrNoFiles = fmt.Errorf("this server keeps no files: %w", ErrUnimplemented)

// UploadFile stages the streamed bytes, checks them, records the file on
// the case and keeps the bytes.
func (s *Server) UploadFile(stream grpc.ClientStreamingServer[banliv1.UploadFileRequest, banliv1.Attachment]) error {
	if s.files == nil {
		return ErrNoFiles
	}
	if err := s.refuseOnStandby(); err != nil {
		return err
	}
	ctx := stream.Context()
	first, err := stream.Recv()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return invalidField("upload", "required: the first message names the case and the file")
		}
		return err
	}
	head := first.GetUpload()
	id, err := validateUpload(head)
	if err != nil {
		return err
	}
	// Before taking megabytes: is the case there, open and not full?
	if err := s.store.View(func(r store.Reader) error {
		p, err := r.Proposal(id)
		if err != nil {
			return notFoundOr(err, head.GetParent(), "")
		}
		return checkUpload(p)
	}); err != nil {
		return err
	}
	staged, err := s.files.Stage(&chunkReader{stream: stream}, maxFileBytes)
	if errors.Is(err, store.ErrTooLarge) {
		return invalidField("chunk", "the file is larger than %d MiB", maxFileBytes>>20)
	}
	if err != nil {
		return err
	}
	kept := false
	defer func() {
		if !kept {
			staged.Discard()
		}
	}()
	meta, err := checkStaged(head, staged)
	if err != nil {
		return err
	}
	recorded := false
	answer, err := write(ctx, s, banliv1.ProposalService_UploadFile_FullMethodName, head, func(tx store.Tx, now time.Time) (*banliv1.Attachment, error) {
		recorded = false
		p, err := tx.Proposal(id)
		if err != nil {
			return nil, notFoundOr(err, head.GetParent(), "")
		}
		if err := checkEtag(head.GetEtag(), p.GetEtag(), p.GetName()); err != nil {
			return nil, err
		}
		if err := checkUpload(p); err != nil {
			return nil, err
		}
		c, err := newCaseChange(ctx, tx, now, s.clock, id, p, StepUploadFile)
		if err != nil {
			return nil, err
		}
		f := proto.Clone(meta).(*banliv1.Attachment)
		f.Name = fileName(id, len(p.GetFiles())+1)
		f.Uploader = callerAccount(ctx)
		if caller, ok := CallerFrom(ctx); ok {
			f.Unit = caller.Unit
		}
		f.CreateTime = timestamppb.New(now)
		p.Files = append(p.Files, f)
		c.target = f.GetName()
		c.details = fmt.Sprintf("%s: %s, %s, %d bytes, sha256 %s", f.GetName(), f.GetFileName(), f.GetMediaType(), f.GetSizeBytes(), f.GetSha256())
		c.commit()
		recorded = true
		return f, nil
	})
	if err != nil {
		return err
	}
	if recorded {
		// The record has committed: the bytes are the store's now. Should
		// this fail, Recover keeps them when the server next opens.
		if err := staged.Keep(); err != nil {
			return fmt.Errorf("keep %s: %w", answer.GetName(), err)
		}
	}
	kept = true
	return stream.SendAndClose(answer)
}

func validateUpload(head *banliv1.FileUpload) (uint64, error) {
	v := &violations{}
	if head == nil {
		v.add("upload", "required: the first message names the case and the file")
		return 0, v.err()
	}
	id := v.proposalID("upload.parent", head.GetParent())
	v.line("upload.file_name", head.GetFileName(), maxNameLen, true)
	v.line("upload.media_type", head.GetMediaType(), maxMediaTypeLen, false)
	if n := head.GetSizeBytes(); n < 0 || n > maxFileBytes {
		v.add("upload.size_bytes", "must be 1 to %d (%d MiB)", maxFileBytes, maxFileBytes>>20)
	}
	if h := head.GetSha256(); h != "" && !store.ValidSHA256(h) {
		v.add("upload.sha256", "must be the content's SHA-256 as 64 lower-case hex digits")
	}
	v.mutation(head.GetEtag(), head.GetRequestId())
	return id, v.err()
}

// checkUpload says whether p may take another file: the lifecycle table's
// step, and the case's bound (checked again on the case written).
func checkUpload(p *banliv1.Proposal) error {
	if err := checkProposalStep(StepUploadFile, p.GetName(), p.GetState()); err != nil {
		return err
	}
	if len(p.GetFiles()) >= maxCaseFiles {
		return &caseLimitError{resource: p.GetName(), what: "files", max: maxCaseFiles}
	}
	return nil
}

// checkStaged checks the staged bytes against what the upload said of
// them and against the accepted types, and returns the file's metadata.
func checkStaged(head *banliv1.FileUpload, staged store.StagedFile) (*banliv1.Attachment, error) {
	size := staged.Size()
	switch want := head.GetSizeBytes(); {
	case size == 0:
		return nil, invalidField("chunk", "the file is empty")
	case want > 0 && size < want:
		return nil, invalidField("upload.size_bytes", "the upload was cut short: %d of the %d bytes declared arrived", size, want)
	case want > 0 && size > want:
		return nil, invalidField("upload.size_bytes", "the upload ran past the %d bytes declared (%d arrived)", want, size)
	}
	if want := head.GetSha256(); want != "" && want != staged.SHA256() {
		return nil, invalidField("upload.sha256", "the content hashes to %s, not to the %s declared: it was changed or cut on the way", staged.SHA256(), want)
	}
	media := sniffMediaType(staged, size)
	if media == "" {
		field := "chunk"
		if head.GetMediaType() != "" {
			field = "upload.media_type"
		}
		return nil, invalidField(field, "the content is not a file a case may carry (%s)", acceptedFileTypes)
	}
	if d := head.GetMediaType(); d != "" && !sameMediaType(d, media) {
		return nil, invalidField("upload.media_type", "the content is %s, not %s", media, d)
	}
	return &banliv1.Attachment{FileName: head.GetFileName(), MediaType: media, SizeBytes: size, Sha256: staged.SHA256()}, nil
}

// chunkReader reads an upload's chunks as one stream of bytes.
type chunkReader struct {
	stream grpc.ClientStreamingServer[banliv1.UploadFileRequest, banliv1.Attachment]
	buf    []byte
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		msg, err := r.stream.Recv()
		if err != nil {
			return 0, err // io.EOF at the end, or the stream's failure
		}
		if msg.GetUpload() != nil {
			return 0, invalidField("upload", "only the first message names the file; later ones carry chunks")
		}
		switch n := len(msg.GetChunk()); {
		case n == 0:
			return 0, invalidField("chunk", "empty: each later message carries 1 byte to %d KiB", maxFileChunk>>10)
		case n > maxFileChunk:
			return 0, invalidField("chunk", "%d bytes: at most %d KiB in one message", n, maxFileChunk>>10)
		}
		r.buf = msg.GetChunk()
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// DownloadFile streams an uploaded file.
func (s *Server) DownloadFile(req *banliv1.DownloadFileRequest, stream grpc.ServerStreamingServer[httpbody.HttpBody]) error {
	if s.files == nil {
		return ErrNoFiles
	}
	ids, ok := parseName(req.GetName(), proposalsCollection, filesCollection)
	if !ok {
		v := &violations{}
		v.badName("name", req.GetName(), "proposals/{proposal}/files/{file}")
		return v.err()
	}
	var f *banliv1.Attachment
	if err := s.store.View(func(r store.Reader) error {
		p, err := r.Proposal(ids[0])
		if err != nil {
			return notFoundOr(err, proposalName(ids[0]), "")
		}
		f = caseFile(p, req.GetName())
		if f == nil {
			return resourceNotFound(req.GetName(), "")
		}
		return nil
	}); err != nil {
		return err
	}
	return s.sendContent(stream.Context(), f.GetSha256(), f.GetMediaType(), stream.Send)
}

// FetchFile streams a content by its hash, for a standby.
func (s *Server) FetchFile(req *banliv1.FetchFileRequest, stream grpc.ServerStreamingServer[httpbody.HttpBody]) error {
	if s.files == nil {
		return ErrNoFiles
	}
	if !store.ValidSHA256(req.GetSha256()) {
		return invalidField("sha256", "must be a SHA-256 as 64 lower-case hex digits")
	}
	return s.sendContent(stream.Context(), req.GetSha256(), "application/octet-stream", stream.Send)
}

func (s *Server) sendContent(ctx context.Context, sha, media string, send func(*httpbody.HttpBody) error) error {
	content, err := s.files.Open(sha)
	if errors.Is(err, store.ErrNotFound) {
		// The data names it and the file store lost it: the operator's
		// matter (CheckFiles says so), not the caller's.
		return fmt.Errorf("the content %s is missing from the file store", sha)
	}
	if err != nil {
		return err
	}
	defer content.Close()
	w := s.chunks(ctx, media, send)
	if _, err := io.Copy(w, content); err != nil {
		return err
	}
	return w.flush()
}

// caseFile is the file of p named name, or nil.
func caseFile(p *banliv1.Proposal, name string) *banliv1.Attachment {
	for _, f := range p.GetFiles() {
		if f.GetName() == name {
			return f
		}
	}
	return nil
}

// attach resolves the files a record attaches (given by name) to the
// case's files. A record attaches files of its own side: for a unit's
// part, files its unit (or one of its departments) uploaded; for any
// other record, files the caller itself uploaded.
func (c *caseChange) attach(field string, given []*banliv1.Attachment, unit string) ([]*banliv1.Attachment, error) {
	if len(given) == 0 {
		return nil, nil
	}
	caller := callerAccount(c.ctx)
	out := make([]*banliv1.Attachment, 0, len(given))
	seen := map[string]bool{}
	for i, g := range given {
		path := fmt.Sprintf("%s[%d].name", field, i)
		f := caseFile(c.p, g.GetName())
		switch {
		case f == nil:
			return nil, invalidField(path, "%s has no file %q: upload it first (UploadFile)", c.p.GetName(), g.GetName())
		case seen[f.GetName()]:
			return nil, invalidField(path, "%s is attached twice", f.GetName())
		case unit != "" && (f.GetUnit() == "" || !inUnit(c.tx, unit, f.GetUnit())):
			return nil, invalidField(path, "%s was not uploaded by %s: a part attaches its own unit's files", f.GetName(), unit)
		case unit == "" && f.GetUploader() != caller:
			return nil, invalidField(path, "%s was uploaded by another account: attach a file you uploaded", f.GetName())
		}
		seen[f.GetName()] = true
		out = append(out, proto.Clone(f).(*banliv1.Attachment))
	}
	return out, nil
}

// attachmentNames checks the shape of a record's attachments: at most
// maxRecordAttachments, each named as a file of the case in the request.
func (v *violations) attachmentNames(field string, list []*banliv1.Attachment) {
	if len(list) > maxRecordAttachments {
		v.add(field, "at most %d files", maxRecordAttachments)
		return
	}
	for i, a := range list {
		if _, ok := parseName(a.GetName(), proposalsCollection, filesCollection); !ok {
			v.badName(fmt.Sprintf("%s[%d].name", field, i), a.GetName(), "proposals/{proposal}/files/{file}")
		}
	}
}

// attachedNames lists the files attached anywhere in m (every
// Attachment.name below it).
func attachedNames(m protoreflect.Message, into map[string]bool) {
	if a, ok := m.Interface().(*banliv1.Attachment); ok {
		if a.GetName() != "" {
			into[a.GetName()] = true
		}
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind {
			return true
		}
		switch {
		case fd.IsList():
			for i := 0; i < v.List().Len(); i++ {
				attachedNames(v.List().Get(i).Message(), into)
			}
		case fd.IsMap():
		default:
			attachedNames(v.Message(), into)
		}
		return true
	})
}

// fileReferenced reports whether a committed case names the content sha.
func fileReferenced(r store.Reader, sha string) (bool, error) {
	q := store.Query{}
	q.And(fileTerm(sha))
	found, _, err := r.ListProposals(q, 0, 1)
	return len(found) > 0, err
}

// RecoverFiles finishes what a crash left of uploads: contents staged for
// a record that committed are kept, every other one (and every content no
// case names) goes. Run it before serving.
func RecoverFiles(st store.Backend, files store.Files) (store.Recovery, error) {
	var rec store.Recovery
	err := st.View(func(r store.Reader) error {
		var err error
		rec, err = files.Recover(func(sha string) (bool, error) { return fileReferenced(r, sha) })
		return err
	})
	return rec, err
}

// CheckFiles checks the file store against the data: every file a case
// names is held, and every content held hashes to its name.
func CheckFiles(st store.Backend, files store.Files) error {
	if err := files.Verify(); err != nil {
		return err
	}
	return st.View(func(r store.Reader) error {
		return r.ForEachProposal(func(p *banliv1.Proposal) error {
			for _, f := range p.GetFiles() {
				held, err := files.Has(f.GetSha256())
				if err != nil {
					return err
				}
				if !held {
					return fmt.Errorf("%s (%s) names content %s, which the file store does not hold", f.GetName(), f.GetFileName(), f.GetSha256())
				}
			}
			return nil
		})
	})
}
