import numpy as np
import pytest
import torch

from liteformer.data.chars import CharTokenizer
from liteformer.models.checkpoint import load_model, save_model
from liteformer.models.speech import AudioConfig, LogMel, TransformerForCTC, mel_filterbank, spec_augment
from liteformer.models.transformer import TransformerConfig
from liteformer.tasks.speech import ctc_loss, greedy, pad_audio, transcribe


def tiny(light: dict | None = None, **audio):
    torch.manual_seed(0)
    cfg = TransformerConfig.tiny(vocab_size=29, type_vocab_size=0, pooler="none", num_labels=1, norm_first=True,
                                 positions="sinusoidal", max_positions=64, audio={"n_mels": 32, **audio},
                                 **(light or {}))
    return TransformerForCTC(cfg).eval()


def test_log_mel_is_the_stft_power_through_the_mel_matrix():
    a = AudioConfig(n_mels=40)
    x = torch.randn(2, 4000)
    ours = LogMel(a)(x)  # (B, F, M)
    spec = torch.stft(x, a.n_fft, a.hop, window=torch.hann_window(a.n_fft), center=False, return_complex=True)
    ref = torch.log(spec.abs().pow(2).transpose(1, 2) @ mel_filterbank(201, 40, 16000, 20.0, 8000.0) + 1e-6)
    assert ours.shape == ref.shape == (2, a.frames(4000), 40)
    loud = ref > ref.amax((1, 2), keepdim=True) - 6.0  # within 60 dB (ln) of the clip's peak band
    assert (ours - ref)[loud].abs().max() < 0.05  # the int8-coded coefficients' noise floor lies far below


def test_mel_filters_are_unit_triangles_in_order():
    fb = mel_filterbank(201, 40, 16000, 20.0, 8000.0)  # (K, M)
    assert fb.shape == (201, 40) and fb.min() >= 0 and fb.max() <= 1
    peaks = fb.argmax(0)
    assert (peaks[1:] >= peaks[:-1]).all()  # rising centre frequencies
    assert (fb.sum(0) > 0).all()  # no empty band at 201 bins and 40 mels


@pytest.mark.parametrize("n", [400, 4000, 4321, 8000])
@pytest.mark.parametrize("light", [None, {"conv_module": True, "conv_kernel": 5}, {"conv_dim": 16}],
                         ids=["plain", "conformer-conv", "lsra"])
def test_padding_to_a_bucket_changes_nothing_on_the_real_frames(n, light):
    m = tiny(light)
    x = torch.randn(1, n) * 0.1
    with torch.no_grad():
        ref, frames = m(x)
        audio, mask = pad_audio([x[0].numpy()], 16000)
        out, out_frames = m(audio, mask)
    t = int(frames.sum())
    assert t == ref.shape[1] == m.audio.encoder_frames(n) and int(out_frames.sum()) == t
    assert (out[0, :t] - ref[0]).abs().max() < 1e-5


def test_batch_of_mixed_lengths_equals_one_by_one():
    m = tiny()
    clips = [np.random.default_rng(i).standard_normal(n).astype(np.float32) * 0.1 for i, n in
             enumerate((1200, 5000, 3100))]
    tok = CharTokenizer()
    assert transcribe(m, tok, clips, batch_size=3) == [transcribe(m, tok, [c])[0] for c in clips]


def test_ctc_loss_trains_and_greedy_collapses():
    m = tiny()
    m.train()
    audio, mask = pad_audio([np.random.default_rng(0).standard_normal(8000).astype(np.float32) * 0.1] * 2)
    tok = CharTokenizer()
    targets = [tok.encode_one("one"), tok.encode_one("two two")]
    opt = torch.optim.Adam(m.parameters(), 1e-2)
    first = None
    for _ in range(30):
        loss = ctc_loss(m, audio, mask, targets).mean()
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first
    logits = torch.tensor([[5.0, 0, 0], [0, 5, 0], [0, 5, 0], [5, 0, 0], [0, 5, 0], [0, 0, 5]])
    assert greedy(logits, 6) == [1, 1, 2] and greedy(logits, 3) == [1]


def test_spec_augment_masks_only_in_training():
    a = AudioConfig(freq_masks=2, freq_width=5, time_masks=2, time_width=4)
    x = torch.ones(3, 50, 32)
    y = spec_augment(x, a)
    assert y.shape == x.shape and (y == 0).any() and (y == 1).any()
    m = tiny(freq_width=30, time_width=30)
    audio = torch.randn(1, 8000)
    with torch.no_grad():
        assert torch.equal(m(audio)[0], m(audio)[0])  # eval: deterministic, unmasked


def test_save_and_load_round_trip(tmp_path):
    m = tiny()
    m.feature_mean.fill_(0.5)
    save_model(m, CharTokenizer(), tmp_path / "asr")
    lm = load_model(tmp_path / "asr")
    assert isinstance(lm.model, TransformerForCTC) and lm.task == "speech-recognition" and lm.is_speech
    assert lm.tokenizer.alphabet == CharTokenizer().alphabet
    x = torch.randn(1, 3000)
    with torch.no_grad():
        assert torch.equal(lm.model(x)[0], m(x)[0])


def test_bad_audio_config_is_refused():
    for bad in ({"n_fft": 0}, {"f_max": 9000.0}, {"colour": 1}, {"channels": -1}):
        with pytest.raises(ValueError):
            AudioConfig.from_dict(bad)
