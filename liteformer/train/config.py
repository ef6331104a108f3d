"""The training run's options (finetune, distill, recovery after pruning, translation, speech); torch-free, so the CLI
derives its flags from them without importing torch."""

from __future__ import annotations

from dataclasses import dataclass

from liteformer.options import HALF_OPEN, NON_NEGATIVE, OPEN_UNIT, POSITIVE, UNIT, Range, check_fields, opt


@dataclass
class TrainConfig:
    epochs: float = opt(3.0, "epochs", check=POSITIVE)
    max_steps: int | None = opt(None, "stop after this many steps (overrides --epochs)", check=POSITIVE)
    lr: float = opt(5e-5, "peak learning rate", check=OPEN_UNIT)
    batch_size: int = opt(32, "global batch size (split across DDP ranks)", check=POSITIVE)
    weight_decay: float = opt(0.01, "AdamW weight decay", check=NON_NEGATIVE)
    warmup: float = opt(0.06, "warm-up fraction of steps", check=HALF_OPEN)
    schedule: str = opt("linear", "learning-rate decay after the warm-up: linear to 0, or inverse-sqrt (1/sqrt(step), "
                        "the Transformer's)", choices=("linear", "inverse-sqrt"))
    max_length: int | None = opt(None, "tokens per example (default: 128 or the model's positions if fewer)",
                                 check=Range(2))
    grad_clip: float = opt(1.0, "gradient norm clipping (0 = off)", check=NON_NEGATIVE)
    seed: int = opt(0, "random seed")
    eval_every: int | None = opt(None, "steps between dev evaluations (default: once an epoch)", check=POSITIVE)
    qat: bool = opt(False, "quantization-aware training: Linear layers see int8 weights and activations (fake "
                    "quantization); export afterwards with --quantize int8-dynamic")
    checkpoint_every: int | None = opt(None, "steps between resumable checkpoints (default: at each evaluation)",
                                       check=POSITIVE)
    prune_sparsity: float = opt(0.0, "gradual magnitude pruning to this sparsity (cubic schedule; the kept "
                                "checkpoint has it; stored compressed)", check=HALF_OPEN)
    average_last: int = opt(0, "checkpoint averaging: keep the weights of the last N evaluations and, at the end, "
                            "their average if it scores at least the best single checkpoint (0 = off)",
                            check=NON_NEGATIVE)
    patience: int = opt(0, "early stopping: stop after this many dev evaluations in a row without a gain of at least "
                        "--min-delta (0 = off; the best checkpoint is kept as always)", check=NON_NEGATIVE)
    min_delta: float = opt(0.0, "early stopping: the smallest dev gain that counts (accuracy 0.002 = 0.2 points; "
                           "sacreBLEU/ROUGE points; an error rate's drop)", check=NON_NEGATIVE)
    max_minutes: float | None = opt(None, "a cap on training wall time (summed over resumed runs): stop at the next "
                                    "evaluation after it", check=POSITIVE)
    precision: str = opt("auto", "matrix products in bf16 (autocast; weights and optimizer stay fp32): auto = on a "
                         "GPU only; bf16 = on a CPU too (several times faster where it has AMX or AVX512-BF16)",
                         choices=("auto", "fp32", "bf16"))

    def validate(self) -> None:
        check_fields(self)


@dataclass
class TranslationConfig:
    max_tokens: int = opt(4096, "token-based batches: up to this many padded tokens (source or target side, the "
                          "longer) per global batch", check=POSITIVE)
    label_smoothing: float = opt(0.1, "label smoothing of the token cross-entropy", check=UNIT)
    dev_sentences: int = opt(500, "dev pairs translated (greedy) at each evaluation", check=POSITIVE)

    def validate(self) -> None:
        check_fields(self)


@dataclass
class SpeechConfig:
    strings: int = opt(2000, "digit strings synthesized per epoch from the training clips (1-7 clips of one speaker)",
                       check=NON_NEGATIVE)
    augment_audio: bool = opt(True, "speed/gain/noise augmentation of the training examples (SpecAugment: the "
                              "model's audio config)")
    dev_strings: int = opt(200, "digit strings built (once, seed 0) from the dev clips and scored with them",
                           check=NON_NEGATIVE)
    pseudo_labels: bool = opt(False, "distillation: the teacher's greedy transcripts of the augmented examples are "
                              "the CTC targets")
    feature_clips: int = opt(500, "training clips whose features set the per-band normalization", check=POSITIVE)
    alpha: float = opt(0.5, "distillation: weight of the CTC loss (1-alpha: the frame-level KL)", check=UNIT)
    temperature: float = opt(2.0, "distillation: softmax temperature of the frame-level KL", check=POSITIVE)

    def validate(self) -> None:
        check_fields(self)
