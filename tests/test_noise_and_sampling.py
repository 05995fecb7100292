import math

import pytest
import torch

from netbend.generation import sampling, schedulers
from netbend.generation.noise import NoiseWalk


def test_noise_walk_follows_the_circle_between_two_gaussians():
    walk = NoiseWalk((4, 8, 8), n_frames=5, seed=3, walk=2.0)  # a full circle over 5 frames
    x = walk(torch.arange(5))
    torch.testing.assert_close(x[0], walk.n1)
    torch.testing.assert_close(x[1], walk.n2, atol=1e-6, rtol=0)  # angle pi/2 after a quarter
    torch.testing.assert_close(x[4], walk.n1, atol=1e-6, rtol=0)  # back after a full circle
    a = math.pi * 2.0 * 3 / 4
    torch.testing.assert_close(x[3], math.cos(a) * walk.n1 + math.sin(a) * walk.n2)
    # batching does not change a frame's noise; the seed decides it
    torch.testing.assert_close(walk(torch.tensor([3]))[0], x[3])
    assert torch.equal(NoiseWalk((4, 8, 8), n_frames=5, seed=3, walk=2.0)(torch.arange(5)), x)
    assert not torch.equal(NoiseWalk((4, 8, 8), n_frames=5, seed=4, walk=2.0)(torch.arange(5)), x)


def test_single_frame_walk_is_first_noise():
    walk = NoiseWalk((4, 2, 2), n_frames=1, seed=0, walk=0.2)
    assert torch.equal(walk(torch.tensor([0]))[0], walk.n1)


def test_callback_sees_latent_entering_each_step_and_the_final_one(tiny_model):
    sched = schedulers.make_scheduler("ddim", tiny_model.scheduler_config, 4)
    sched.set_timesteps(4, device=tiny_model.device)
    x0 = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1)).to(tiny_model.device, tiny_model.dtype)
    cond = tiny_model.encode_text(["a floating orb"])
    denoise = sampling.guided_denoiser(tiny_model.unet, cond, tiny_model.encode_text([""]), 7.5)
    seen = []

    def record(k, x):
        seen.append((k, x.clone()))
        return x

    final = sampling.sample(denoise, sched, x0, callback=record)
    assert [k for k, _ in seen] == [0, 1, 2, 3, 4]
    assert torch.equal(seen[0][1], x0)  # layer 0 is the initial noise
    assert torch.equal(seen[-1][1], final)  # layer S is the final latent
    # each intermediate latent is one scheduler step from the previous one
    sched.set_timesteps(4, device=tiny_model.device)
    t1 = sched.timesteps[1]
    x1 = sched.step(denoise(seen[1][1], t1), t1, seen[1][1]).prev_sample
    torch.testing.assert_close(x1, seen[2][1])


def test_guidance_one_uses_conditional_prediction_only(tiny_model):
    cond = tiny_model.encode_text(["crane"])
    x = torch.randn(1, 4, 8, 8).to(tiny_model.device, tiny_model.dtype)
    t = torch.tensor(500)
    plain = sampling.guided_denoiser(tiny_model.unet, cond, None, 1.0)(x, t)
    with torch.no_grad():
        torch.testing.assert_close(plain, tiny_model.unet(x, t, encoder_hidden_states=cond).sample)


def test_callback_sees_the_model_input_scale_with_euler(tiny_model):
    # Euler holds latents at sigma scale (std ~14.6 at the start); a bend sees them as the
    # UNet does, at unit variance, like DDIM's, and its change is carried back
    sched = schedulers.make_scheduler("euler", tiny_model.scheduler_config, 4)
    sched.set_timesteps(4, device=tiny_model.device)
    x0 = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(2)).to(tiny_model.device, tiny_model.dtype)
    cond = tiny_model.encode_text(["orb"])
    denoise = sampling.guided_denoiser(tiny_model.unet, cond, None, 1.0)
    seen = {}

    def record(k, x):
        seen[k] = x.clone()
        return x

    sampling.sample(denoise, sched, x0 * sched.init_noise_sigma, callback=record)
    assert abs(seen[0].float().std().item() - 1.0) < 0.15
    torch.testing.assert_close(seen[0], x0, atol=0.01, rtol=0.01)  # init_noise_sigma vs sigma_0 differ slightly


def test_scheduler_that_cannot_make_the_steps_is_a_clear_error(tiny_model):
    import pytest

    from netbend import NetbendError

    with pytest.raises(NetbendError, match="cannot make 2000 steps"):
        schedulers.make_scheduler("ddim", tiny_model.scheduler_config, 2000)


@pytest.mark.parametrize("name", ["ddim", "euler_a", "dpmpp", "unipc"])
def test_a_run_split_at_a_step_continues_exactly(tiny_model, name):
    """sample(stop=k) then sample(start=k) on a copy of the scheduler and of the random state
    equals one whole run: what the figure grid's shared trajectory relies on."""
    import copy

    cond = tiny_model.encode_text(["crane"])
    denoise = sampling.guided_denoiser(tiny_model.unet, cond, tiny_model.encode_text([""]), 7.5)
    x0 = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(2)).to(tiny_model.device, tiny_model.dtype)

    def fresh():
        s = schedulers.make_scheduler(name, tiny_model.scheduler_config, 5)
        s.set_timesteps(5, device=tiny_model.device)
        return s, [torch.Generator().manual_seed(9)]

    sched, gen = fresh()
    whole = sampling.sample(denoise, sched, x0 * sched.init_noise_sigma, generator=gen)
    sched, gen = fresh()
    mid = sampling.sample(denoise, sched, x0 * sched.init_noise_sigma, generator=gen, stop=3)
    copied = [torch.Generator()]
    copied[0].set_state(gen[0].get_state())
    sched2 = copy.deepcopy(sched)
    gen[0].manual_seed(123)  # the original's later use does not matter to the copy
    rest = sampling.sample(denoise, sched2, mid, generator=copied, start=3)
    assert torch.equal(rest, whole)
    with pytest.raises(ValueError):
        sampling.sample(denoise, sched2, mid, start=4, stop=2)
