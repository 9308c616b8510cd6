// extern "C" shim over SentencePiece. Nothing but translation lives here.
#include "CSentencePiece.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

struct spm_processor {
    sentencepiece::SentencePieceProcessor sp;
};

static char *copy_string(const std::string &s) {
    char *out = static_cast<char *>(std::malloc(s.size() + 1));
    if (out) {
        std::memcpy(out, s.data(), s.size());
        out[s.size()] = 0;
    }
    return out;
}

static void set_error(char **error, const std::string &message) {
    if (error) *error = copy_string(message);
}

extern "C" spm_processor *spm_load_bytes(const char *bytes, size_t length, char **error) {
    auto *p = new spm_processor();
    auto status = p->sp.LoadFromSerializedProto(std::string(bytes, length));
    if (!status.ok()) {
        set_error(error, status.ToString());
        delete p;
        return nullptr;
    }
    return p;
}

extern "C" void spm_free(spm_processor *processor) { delete processor; }
extern "C" void spm_free_string(char *string) { std::free(string); }

namespace {
// Feeds the trainer one line at a time from a buffer owned by the caller.
class LineIterator : public sentencepiece::SentenceIterator {
  public:
    LineIterator(const char *text, size_t length) : text_(text), end_(text + length), next_(text) {
        Next();
    }
    bool done() const override { return done_; }
    void Next() override {
        while (next_ < end_) {
            const char *nl = static_cast<const char *>(std::memchr(next_, '\n', end_ - next_));
            const char *stop = nl ? nl : end_;
            line_.assign(next_, stop - next_);
            next_ = nl ? nl + 1 : end_;
            if (!line_.empty()) return;
        }
        done_ = true;
    }
    const std::string &value() const override { return line_; }
    sentencepiece::util::Status status() const override { return sentencepiece::util::Status(); }

  private:
    const char *text_;
    const char *end_;
    const char *next_;
    std::string line_;
    bool done_ = false;
};
}  // namespace

extern "C" int spm_train(const char *text, size_t text_length, const char *const *keys,
                         const char *const *values, int count, char **model_bytes,
                         size_t *model_length, char **error) {
    std::unordered_map<std::string, std::string> kwargs;
    for (int i = 0; i < count; i++) kwargs[keys[i]] = values[i];
    // Sentence sampling is random; a fixed seed makes training reproducible.
    sentencepiece::SetRandomGeneratorSeed(1);
    LineIterator lines(text, text_length);
    std::string serialized;
    auto status = sentencepiece::SentencePieceTrainer::Train(kwargs, &lines, &serialized);
    if (!status.ok()) {
        set_error(error, status.ToString());
        return -1;
    }
    *model_bytes = static_cast<char *>(std::malloc(serialized.size()));
    std::memcpy(*model_bytes, serialized.data(), serialized.size());
    *model_length = serialized.size();
    return 0;
}

extern "C" long spm_encode(const spm_processor *processor, const char *text, size_t length,
                           int32_t *ids, size_t capacity, char **error) {
    std::vector<int> out;
    auto status = processor->sp.Encode(std::string_view(text, length), &out);
    if (!status.ok()) {
        set_error(error, status.ToString());
        return -1;
    }
    if (out.size() <= capacity) {
        for (size_t i = 0; i < out.size(); i++) ids[i] = out[i];
    }
    return static_cast<long>(out.size());
}

extern "C" int spm_decode(const spm_processor *processor, const int32_t *ids, size_t count,
                          char **text, size_t *text_length, char **error) {
    std::vector<int> in(ids, ids + count);
    std::string out;
    auto status = processor->sp.Decode(in, &out);
    if (!status.ok()) {
        set_error(error, status.ToString());
        return -1;
    }
    *text = copy_string(out);
    *text_length = out.size();
    return 0;
}

extern "C" int spm_piece_count(const spm_processor *p) { return p->sp.GetPieceSize(); }
extern "C" const char *spm_id_to_piece(const spm_processor *p, int id) {
    return p->sp.IdToPiece(id).c_str();
}
extern "C" int spm_piece_to_id(const spm_processor *p, const char *piece) {
    return p->sp.PieceToId(piece);
}
extern "C" int spm_is_byte(const spm_processor *p, int id) { return p->sp.IsByte(id); }
extern "C" int spm_is_control(const spm_processor *p, int id) { return p->sp.IsControl(id); }
extern "C" int spm_is_unknown(const spm_processor *p, int id) { return p->sp.IsUnknown(id); }
extern "C" int spm_bos_id(const spm_processor *p) { return p->sp.bos_id(); }
extern "C" int spm_eos_id(const spm_processor *p) { return p->sp.eos_id(); }
extern "C" int spm_unk_id(const spm_processor *p) { return p->sp.unk_id(); }
extern "C" int spm_pad_id(const spm_processor *p) { return p->sp.pad_id(); }
