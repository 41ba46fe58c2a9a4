package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/conveyorci/conveyor/executor/source"
	"github.com/conveyorci/conveyor/pipeline"
	"github.com/conveyorci/conveyor/server/auth"
	"github.com/conveyorci/conveyor/server/awsapi"
	"github.com/conveyorci/conveyor/store"
)

// handlerFunc is a REST endpoint that returns its error; handle writes it once, in one shape.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// statusError is a client error with an HTTP status.
type statusError struct {
	status int
	typ    string
	msg    string
}

func (e *statusError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &statusError{http.StatusBadRequest, "ValidationException", fmt.Sprintf(format, args...)}
}

// handle adapts a handlerFunc: not found → 404, client errors → 400/409, the rest → 500 with a
// request id that appears in the log next to the cause (never the cause itself in the body).
func handle(log *slog.Logger, h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		var se *statusError
		var coded awsapi.CodedError
		switch {
		case errors.As(err, &se):
			awsapi.WriteError(w, &awsapi.Error{Type: se.typ, Message: se.msg, Status: se.status})
		case errors.As(err, &coded):
			status := http.StatusBadRequest
			switch {
			case coded.ErrorCode() == string(pipeline.CodeConflict):
				status = http.StatusConflict
			case strings.HasSuffix(coded.ErrorCode(), "NotFoundException"):
				status = http.StatusNotFound
			}
			msg := coded.Error()
			if _, rest, ok := strings.Cut(msg, ": "); ok {
				msg = rest
			}
			awsapi.WriteError(w, &awsapi.Error{Type: coded.ErrorCode(), Message: msg, Status: status})
		case errors.Is(err, store.ErrNotFound):
			awsapi.WriteError(w, &awsapi.Error{Type: "ResourceNotFoundException", Message: err.Error(), Status: http.StatusNotFound})
		case errors.Is(err, auth.ErrPayloadMismatch):
			awsapi.WriteError(w, &awsapi.Error{Type: "InvalidSignatureException", Message: err.Error(), Status: http.StatusBadRequest})
		default:
			reqID := middleware.GetReqID(r.Context())
			log.Error("request failed", "path", r.URL.Path, "request_id", reqID, "err", err)
			awsapi.WriteError(w, &awsapi.Error{Type: "InternalFailure",
				Message: "internal error (request id " + reqID + "); the server log has the details", Status: http.StatusInternalServerError})
		}
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

func whoami(w http.ResponseWriter, r *http.Request) error {
	id, _ := auth.FromContext(r.Context())
	return writeJSON(w, http.StatusOK, map[string]string{"name": id.Name, "role": id.Role.String()})
}

// KeyView is an access key as the REST API shows it.
type KeyView struct {
	AccessKeyID     string `json:"accessKeyId"`
	SecretAccessKey string `json:"secretAccessKey,omitempty"`
	Role            string `json:"role"`
	Description     string `json:"description,omitempty"`
	Created         int64  `json:"created"`
	LastUsed        int64  `json:"lastUsed,omitempty"`
}

func keyView(k store.AccessKey) KeyView {
	v := KeyView{AccessKeyID: k.ID, SecretAccessKey: k.Secret, Role: k.Role, Description: k.Description, Created: k.Created.Unix()}
	if !k.LastUsed.IsZero() {
		v.LastUsed = k.LastUsed.Unix()
	}
	return v
}

func listKeys(keys *auth.Keys) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		list, err := keys.List(r.Context())
		if err != nil {
			return err
		}
		out := make([]KeyView, 0, len(list))
		for _, k := range list {
			out = append(out, keyView(k))
		}
		return writeJSON(w, http.StatusOK, map[string]any{"keys": out})
	}
}

func createKey(keys *auth.Keys, log *slog.Logger) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var in struct {
			Role        string `json:"role"`
			Description string `json:"description"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&in); err != nil {
			return badRequest("body must be JSON {\"role\": …, \"description\": …}: %v", err)
		}
		role, err := auth.ParseRole(in.Role)
		if err != nil {
			return badRequest("%v", err)
		}
		if len(in.Description) > 256 {
			return badRequest("description must be at most 256 characters")
		}
		k, err := keys.Create(r.Context(), role, in.Description)
		if err != nil {
			return err
		}
		id, _ := auth.FromContext(r.Context())
		log.Info("access key created", "key", k.ID, "role", k.Role, "by", id.Name)
		return writeJSON(w, http.StatusCreated, keyView(k))
	}
}

func deleteKey(keys *auth.Keys) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		keyID := chi.URLParam(r, "id")
		if id, _ := auth.FromContext(r.Context()); id.Name == "key/"+keyID {
			return &statusError{http.StatusConflict, "ConflictException", "a key cannot delete itself; use another admin key"}
		}
		if err := keys.Delete(r.Context(), keyID); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

func uploadObject(u *source.Uploads) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		bucket, key := chi.URLParam(r, "bucket"), chi.URLParam(r, "*")
		if err := source.ValidateBucketKey(bucket, key); err != nil {
			return badRequest("%v", err)
		}
		id, _ := auth.FromContext(r.Context())
		res, err := u.Put(r.Context(), bucket, key, r.Body, id.Name)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, map[string]any{
			"bucket": bucket, "key": key, "versionId": res.Object.VersionID, "eTag": res.Object.ETag,
			"sha256": res.Object.SHA256, "size": res.Object.Size, "startedExecutions": res.Executions,
		})
	}
}

func listObjectVersions(db *store.DB) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		bucket, key := chi.URLParam(r, "bucket"), chi.URLParam(r, "*")
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		if limit <= 0 || limit > 1000 {
			limit = 100
		}
		list, err := db.Read().ListObjectVersions(r.Context(), bucket, key, limit)
		if err != nil {
			return err
		}
		out := make([]map[string]any, 0, len(list))
		for _, o := range list {
			out = append(out, map[string]any{"versionId": o.VersionID, "eTag": o.ETag, "sha256": o.SHA256,
				"size": o.Size, "created": o.Created.Unix()})
		}
		return writeJSON(w, http.StatusOK, map[string]any{"bucket": bucket, "key": key, "versions": out})
	}
}

func downloadArtifact(blobs *store.Blobs) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		sha := chi.URLParam(r, "sha256")
		f, err := blobs.Open(sha)
		if err != nil {
			return err
		}
		defer f.Close()
		w.Header().Set("Content-Type", "application/zip")
		w.Header().Set("Content-Disposition", `attachment; filename="`+sha[:12]+`.zip"`)
		http.ServeContent(w, r, sha+".zip", time.Time{}, f)
		return nil
	}
}
