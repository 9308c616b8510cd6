// A thin C face of libsentencepiece, so Swift never needs C++ interop.
// Strings returned through `char **` are malloc'd; release them with spm_free_string.
#ifndef CSENTENCEPIECE_H
#define CSENTENCEPIECE_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

typedef struct spm_processor spm_processor;

/// Loads a serialized model (the bytes of a `.model` file). NULL on failure, with *error set.
spm_processor *spm_load_bytes(const char *bytes, size_t length, char **error);
void spm_free(spm_processor *processor);
void spm_free_string(char *string);

/// Trains a model on `text` (sentences separated by '\n') with trainer flags given as
/// parallel arrays of keys and values. Returns 0 and the serialized model, or -1 and *error.
int spm_train(const char *text, size_t text_length,
              const char *const *keys, const char *const *values, int count,
              char **model_bytes, size_t *model_length, char **error);

/// Encodes UTF-8 text into `ids` (capacity `capacity`). Returns the number of ids, which may
/// exceed `capacity` (then nothing useful was written; call again with more room), or -1.
long spm_encode(const spm_processor *processor, const char *text, size_t length,
                int32_t *ids, size_t capacity, char **error);

/// Decodes ids to UTF-8 text; *text is malloc'd. Returns 0 or -1 with *error.
int spm_decode(const spm_processor *processor, const int32_t *ids, size_t count,
               char **text, size_t *text_length, char **error);

int spm_piece_count(const spm_processor *processor);
/// The piece's text; valid while the processor lives.
const char *spm_id_to_piece(const spm_processor *processor, int id);
int spm_piece_to_id(const spm_processor *processor, const char *piece);
int spm_is_byte(const spm_processor *processor, int id);
int spm_is_control(const spm_processor *processor, int id);
int spm_is_unknown(const spm_processor *processor, int id);
int spm_bos_id(const spm_processor *processor);
int spm_eos_id(const spm_processor *processor);
int spm_unk_id(const spm_processor *processor);
int spm_pad_id(const spm_processor *processor);

#ifdef __cplusplus
}
#endif
#endif
