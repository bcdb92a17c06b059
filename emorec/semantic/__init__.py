"""The semantic branch: text and speech embeddings of words, their alignment, frame features.

- `word2vec`: gensim skip-gram on text folders or converted transcripts (`train_word2vec`).
- `mfcc`, `segments`, `speech2vec`: Speech2Vec in Keras (`train_speech2vec`, `SpeechEncoder`).
- `alignment`: adversarial + iterative Procrustes/CSLS alignment (`align`, `procrustes`,
  `csls_translate`, `precision_at_k`, `LinearMap`).
- `segmenter`: transcript-free energy-based pseudo-word boundaries (`segment_words`), with the
  config's `semantic.segmenter` settings (`SegmenterConfig`).
- `features`: frame-level features (`semantic_frame_features`, `text_frame_features`) and
  `add_semantic_features`, which writes them for a converted folder (the folder's layout and
  reader live in `emorec.data.semantic_features`).
- `evaluation`, `run`: the checks with chance levels, and the CLI's workflows.
"""
