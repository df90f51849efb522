"""Software renderer: z-buffer geometry, cameras, painting, scene video and the contact sheet."""

import time

import numpy as np
import pytest

from scorehmr_ros.geometry.camera import Camera
from scorehmr_ros.geometry.rigs import intrinsics_from_fov, look_at
from scorehmr_ros.sim.paint import (
    FACE_FEATURE_RGB,
    HAIR_RGB,
    SHOES_RGB,
    SKIN_RGB,
    clothed_colours,
    head_feature_masks,
)
from scorehmr_ros.sim.render import (
    RenderConfig,
    RenderError,
    rasterize,
    render_backdrop,
    render_frame,
    resized_camera,
    vertex_normals,
)

pytest.importorskip("cv2")

#: Plain background: no floor, no shadow, so body pixels are those that differ from the wall.
PLAIN = RenderConfig(floor=False, shadow_strength=0.0, ambient=1.0)


def _camera(*, width=64, height=48, f=50.0, distortion=None, position=(0.0, -3.0, 1.0), target=(0.0, 0.0, 1.0)):
    R, t = look_at(position_world_m=np.array(position), target_world_m=np.array(target))
    K = np.array([[f, 0, (width - 1) / 2], [0, f, (height - 1) / 2], [0, 0, 1]])
    if distortion is None:
        return Camera(name="c", K=K, width_px=width, height_px=height, R_cam_world=R, t_cam_world_m=t)
    return Camera(name="c", K=K, width_px=width, height_px=height, R_cam_world=R, t_cam_world_m=t,
                  distortion_model="plumb_bob", distortion=np.array(distortion))


def _quad(*, z, half=1.0, reverse=False):
    """Two camera-facing triangles (outward normal towards -z) covering [-half, half]^2 at depth z."""
    vertices = np.array([[-half, -half, z], [half, -half, z], [half, half, z], [-half, half, z]])
    faces = np.array([[0, 2, 1], [0, 3, 2]])
    return vertices, faces[:, ::-1] if reverse else faces


def _zbuffer(vertices_cam, faces, *, f=10.0, size=32):
    c = (size - 1) / 2
    points = vertices_cam[:, :2] / vertices_cam[:, 2:] * f + c
    return rasterize(points_px=points, depth_m=vertices_cam[:, 2], faces=faces, width_px=size, height_px=size)


def test_quad_covers_exactly_the_pixel_centres_inside_and_backfaces_are_culled():
    vertices, faces = _quad(z=2.0)  # projects to [15.5 - 5, 15.5 + 5] = [10.5, 20.5]: centres 11..20
    zb = _zbuffer(vertices, faces)
    assert zb.pixel.size == 100 and np.unique(zb.pixel).size == 100
    rows, cols = np.divmod(zb.pixel, 32)
    assert rows.min() == 11 and rows.max() == 20 and cols.min() == 11 and cols.max() == 20
    np.testing.assert_allclose(zb.depth_m, 2.0)
    np.testing.assert_allclose(zb.barycentric.sum(axis=1), 1.0)
    assert _zbuffer(*_quad(z=2.0, reverse=True)).pixel.size == 0


def test_depth_is_perspective_correct_on_a_tilted_triangle():
    # A triangle in the plane z = 2 + 0.8 x, spanning depths 1.2 .. 2.8.
    vertices = np.array([[-1.0, -1.0, 1.2], [1.0, -0.5, 2.8], [0.0, 1.0, 2.0]])
    faces = np.array([[0, 2, 1]])
    zb = _zbuffer(vertices, faces, f=20.0, size=64)
    assert zb.pixel.size > 100
    rows, cols = np.divmod(zb.pixel, 64)
    x, y = (cols - 31.5) / 20.0, (rows - 31.5) / 20.0  # ray (x, y, 1) z
    expected = 2.0 / (1.0 - 0.8 * x)  # z = 2 + 0.8 x z
    np.testing.assert_allclose(zb.depth_m, expected, rtol=1e-9)
    # Perspective-correct barycentrics reproduce the 3D point on the ray.
    point = np.einsum("kc,kcd->kd", zb.barycentric, vertices[faces[zb.face]])  # corners in face order
    np.testing.assert_allclose(point[:, 0], x * expected, atol=1e-9)
    np.testing.assert_allclose(point[:, 1], y * expected, atol=1e-9)


def test_nearest_surface_wins_whatever_the_order():
    near, faces = _quad(z=2.0, half=0.5)
    far, _ = _quad(z=3.0, half=2.0)
    for first, second in ((near, far), (far, near)):
        zb = _zbuffer(np.concatenate([first, second]), np.concatenate([faces, faces + 4]))
        rows, cols = np.divmod(zb.pixel, 32)
        centre = (np.abs(rows - 15.5) < 2) & (np.abs(cols - 15.5) < 2)
        np.testing.assert_allclose(zb.depth_m[centre], 2.0)
        assert np.sum(np.isclose(zb.depth_m, 3.0)) > 50  # the far quad shows around the near one


def test_resized_camera_keeps_pixel_centres():
    camera = _camera()
    point = np.array([[0.3, 0.2, 1.4]])
    doubled = resized_camera(camera, scale=2.0)
    assert (doubled.width_px, doubled.height_px) == (128, 96)
    np.testing.assert_allclose(doubled.project(point), 2.0 * camera.project(point) + 0.5, atol=1e-9)
    with pytest.raises(RenderError, match="scale"):
        resized_camera(camera, scale=0.0)


def test_floor_ray_of_the_principal_point_hits_the_look_at_target():
    camera = _camera(width=65, height=49, position=(1.0, -3.0, 2.0), target=(0.5, 0.5, 0.0))
    backdrop = render_backdrop(camera, RenderConfig())
    np.testing.assert_allclose(backdrop.floor_xy_m[24, 32], [0.5, 0.5], atol=1e-9)
    above = _camera(width=65, height=49, position=(0.0, -3.0, 1.0), target=(0.0, 0.0, 1.0))
    sky = render_backdrop(above, RenderConfig()).floor_xy_m
    assert np.all(np.isnan(sky[:20])) and not np.any(np.isnan(sky[-5:]))  # horizon in the middle


def test_vertex_normals_point_outward_on_a_closed_mesh(body_model):
    vertices = body_model.v_template.double().numpy()
    normals = vertex_normals(vertices, body_model.faces.numpy())
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-9)
    top = np.argmax(vertices[:, 1])
    assert normals[top, 1] > 0.9  # the top of the head faces up


@pytest.fixture(scope="module")
def body_model(tmp_path_factory):
    from scorehmr_ros.assets.standin import write_standin_npz
    from scorehmr_ros.body.body_model import BodyModel

    return BodyModel.from_file(write_standin_npz(tmp_path_factory.mktemp("standin") / "standin.npz"))


def _standing(body_model, *, offset=(0.0, 0.0, 0.0)):
    """Rest-pose vertices (T-pose) standing on the floor facing world -y (towards a camera at -y)."""
    vertices = body_model.v_template.double().numpy()
    # canonical x left, y up, z forward -> world: facing -y means forward z -> -y, up y -> z, left x -> +x.
    world = np.stack([vertices[:, 0], -vertices[:, 2], vertices[:, 1]], axis=1)
    world[:, 2] -= world[:, 2].min()
    return world + np.array(offset)


def _mask(image, config=PLAIN):
    return np.any(image != np.asarray(config.wall_rgb, dtype=np.uint8), axis=-1)


def test_body_is_not_mirrored_and_distortion_moves_the_silhouette_like_project(body_model):
    faces = body_model.faces.numpy()
    world = _standing(body_model)
    left = world[:, 0] > 0  # the person's left side (canonical +x)
    colours = np.where(left[:, None], [250.0, 0.0, 0.0], [0.0, 0.0, 250.0])[None]
    camera = _camera(width=160, height=120, f=100.0)
    image = render_frame(camera, vertices_world_m=world[None], faces=faces, colours_rgb=colours, config=PLAIN)
    mask = _mask(image)
    rows, cols = np.nonzero(mask)
    red = image[rows, cols, 0] > image[rows, cols, 2]
    # Seen from the front, the person's left hand is on the image's right.
    assert cols[red].mean() > camera.K[0, 2] + 2 and cols[~red].mean() < camera.K[0, 2] - 2
    assert cols[red].max() > camera.K[0, 2] + 20 and cols[~red].min() < camera.K[0, 2] - 20  # the hands
    assert rows.min() < camera.K[1, 2] - 20  # head up: the top of the silhouette is above the centre
    distorted = _camera(width=160, height=120, f=100.0, distortion=[-0.8, 0.1, 0.0, 0.0, 0.0])
    image_d = render_frame(distorted, vertices_world_m=world[None], faces=faces, colours_rgb=colours, config=PLAIN)
    rows_d, cols_d = np.nonzero(_mask(image_d))
    projected = distorted.project(world)
    assert cols_d.min() == pytest.approx(projected[:, 0].min(), abs=2.0)
    assert cols_d.max() == pytest.approx(projected[:, 0].max(), abs=2.0)
    assert rows_d.min() == pytest.approx(projected[:, 1].min(), abs=2.0)
    assert cols_d.max() - cols_d.min() < cols.max() - cols.min() - 2  # barrel distortion shrinks the T-pose
    # The silhouette agrees with OpenCV filling every projected triangle (an independent rasteriser, which also
    # fills pixels that triangle edges merely touch: ours must lie inside it and nearly fill it).
    import cv2

    large = _camera(width=640, height=480, f=400.0, distortion=[-0.8, 0.1, 0.0, 0.0, 0.0])
    ours = _mask(render_frame(large, vertices_world_m=world[None], faces=faces, colours_rgb=colours, config=PLAIN))
    reference = np.zeros(ours.shape, dtype=np.uint8)
    for triangle in np.round(large.project(world)[faces] * 16).astype(np.int32):
        cv2.fillConvexPoly(reference, triangle, 1, lineType=cv2.LINE_8, shift=4)
    both = np.sum(ours & (reference > 0))
    assert both / ours.sum() > 0.995 and both / np.sum(reference > 0) > 0.9


def test_clothed_painting_regions(body_model):
    weights = body_model.lbs_weights.double().numpy()
    rest = body_model.v_template.double().numpy()
    colours = clothed_colours(lbs_weights=weights, rest_vertices_m=rest, shirt_rgb=(200, 60, 50))
    top, bottom = np.argmax(rest[:, 1]), np.argmin(rest[:, 1])
    np.testing.assert_allclose(colours[top], HAIR_RGB)
    np.testing.assert_allclose(colours[bottom], SHOES_RGB, atol=5)
    hand = np.argmax(rest[:, 0])  # left fingertips
    np.testing.assert_allclose(colours[hand], SKIN_RGB, atol=5)
    chest = np.argmin(np.linalg.norm(rest - [0.0, 0.15, 0.12], axis=1))
    np.testing.assert_allclose(colours[chest], (200, 60, 50), atol=5)
    hair, features = head_feature_masks(rest, weights)
    assert not np.any(hair & features)
    eyes = features & (rest[:, 1] > np.median(rest[features, 1]))
    assert np.any(eyes & (rest[:, 0] > 0)) and np.any(eyes & (rest[:, 0] < 0))  # two eyes
    np.testing.assert_allclose(colours[features], np.broadcast_to(FACE_FEATURE_RGB, (features.sum(), 3)))
    assert np.all(rest[hair, 2] < rest[features, 2].min())  # hair behind the face


def test_two_people_640x480_render_in_well_under_a_second(body_model):
    faces = body_model.faces.numpy()
    vertices = np.stack([_standing(body_model, offset=(-0.5, 0.0, 0.0)), _standing(body_model, offset=(0.6, 0.8, 0))])
    weights = body_model.lbs_weights.double().numpy()
    colours = np.stack([clothed_colours(lbs_weights=weights, rest_vertices_m=body_model.v_template.double().numpy(),
                                        shirt_rgb=rgb) for rgb in ((200, 60, 50), (45, 110, 200))])
    K = intrinsics_from_fov(width_px=640, height_px=480, horizontal_fov_deg=60.0)
    R, t = look_at(position_world_m=np.array([0.5, -3.5, 1.6]), target_world_m=np.array([0.0, 0.3, 0.9]))
    camera = Camera(name="c", K=K, width_px=640, height_px=480, R_cam_world=R, t_cam_world_m=t)
    config = RenderConfig()
    backdrop = render_backdrop(camera, config)
    seconds = []
    for _ in range(3):
        start = time.perf_counter()
        image = render_frame(camera, vertices_world_m=vertices, faces=faces, colours_rgb=colours, config=config,
                             backdrop=backdrop)
        seconds.append(time.perf_counter() - start)
    assert image.shape == (480, 640, 3) and image.dtype == np.uint8
    assert min(seconds) < 0.5, seconds  # about 0.1 s on 2 shared cores
    covered = np.any(image != backdrop.image.round().astype(np.uint8), axis=-1).mean()
    assert 0.05 < covered < 0.5


def test_render_rejects_bad_arrays(body_model):
    camera = _camera()
    faces = body_model.faces.numpy()
    with pytest.raises(RenderError, match="colours_rgb"):
        render_frame(camera, vertices_world_m=np.zeros((1, 6890, 3)), faces=faces, colours_rgb=np.zeros((6890, 3)))
    with pytest.raises(RenderError, match="faces"):
        render_frame(camera, vertices_world_m=np.zeros((1, 10, 3)), faces=faces, colours_rgb=np.zeros((1, 10, 3)))
    with pytest.raises(ValueError, match="supersample"):
        RenderConfig(supersample=5).validate()


def test_write_video_mp4_and_png_fallback(tmp_path, monkeypatch):
    import cv2

    from scorehmr_ros.sim.scene_render import write_video

    frames = [np.full((48, 64, 3), 40 * k, dtype=np.uint8) for k in range(5)]
    result = write_video(iter(frames), tmp_path / "clip.mp4", fps=30.0)
    assert not result.fallback and result.num_frames == 5
    capture = cv2.VideoCapture(str(result.path))
    assert capture.get(cv2.CAP_PROP_FRAME_COUNT) == 5 and capture.get(cv2.CAP_PROP_FRAME_WIDTH) == 64
    capture.release()

    class ClosedWriter:
        def __init__(self, *args):
            pass

        def isOpened(self):
            return False

    monkeypatch.setattr(cv2, "VideoWriter", ClosedWriter)
    fallback = write_video(iter(frames), tmp_path / "other.mp4", fps=30.0)
    assert fallback.fallback and fallback.path == tmp_path / "other_frames"
    assert sorted(p.name for p in fallback.path.iterdir()) == [f"{k:06d}.png" for k in range(5)]
    np.testing.assert_array_equal(cv2.imread(str(fallback.path / "000003.png")), frames[3])


def test_contact_sheet_tiles_show_upright_people(body_model):
    from scorehmr_ros.sim.contact_sheet import ContactSheetConfig, motion_contact_sheet

    pytest.importorskip("pybullet_data")
    config = ContactSheetConfig(clips=("walk",), frames_per_clip=2, tile_width_px=64, tile_height_px=96,
                                supersample=1)
    sheet = motion_contact_sheet(body_model, config=config)
    assert sheet.shape == (96, 128, 3)
    for tile in (sheet[:, :64], sheet[:, 64:]):
        tile = tile[20:].astype(np.float64)  # below the labels
        dark = tile.sum(axis=-1) < 150  # shoes and trousers (the floor and wall are light)
        skin = np.all(np.abs(tile - SKIN_RGB) < 60, axis=-1)
        rows_dark, rows_skin = np.nonzero(dark)[0], np.nonzero(skin)[0]
        assert rows_dark.size and rows_skin.size
        assert rows_dark.max() > np.median(rows_skin) + 20  # feet well below the face and hands


def test_cli_renders_a_scene_to_png_and_mp4(tmp_path):
    import cv2

    from scorehmr_ros.assets.standin import write_standin_npz
    from scorehmr_ros.cli.main import main

    pytest.importorskip("pybullet_data")
    model = write_standin_npz(tmp_path / "standin.npz")
    scene = tmp_path / "scene.npz"
    assert main(["sim", "scene", "--rig", "ring2", "--people", "2", "--frames", "3", "--no-occlusion",
                 "--body-model", str(model), "--output", str(scene)]) == 0
    png = tmp_path / "all.png"
    assert main(["sim", "render", "--scene", str(scene), "--output", str(png), "--view", "all", "--frame", "2",
                 "--scale", "0.25", "--body-model", str(model)]) == 0
    assert cv2.imread(str(png)).shape == (180, 640, 3)  # two 320x180 views side by side
    video = tmp_path / "view1.mp4"
    assert main(["sim", "render", "--scene", str(scene), "--output", str(video), "--view", "1", "--scale", "0.25",
                 "--painting", "flat", "--body-model", str(model)]) == 0
    capture = cv2.VideoCapture(str(video))
    assert capture.get(cv2.CAP_PROP_FRAME_COUNT) == 3
    capture.release()
    assert main(["sim", "render", "--scene", str(scene), "--output", str(png), "--view", "5",
                 "--body-model", str(model)]) == 2
