import numpy as np

from diffusion_core.evaluation.pictures import grid_columns, image_grid


def test_image_grid_tiles_images_in_reading_order_with_padding():
    images = np.stack([np.full((1, 4, 3), v) for v in (-1.0, 0.0, 1.0)])  # 3 images, 4×3
    grid = image_grid(images, columns=2, pad=1)
    assert grid.shape == (2 * (4 + 1) + 1, 2 * (3 + 1) + 1) and grid.dtype == np.uint8
    assert (grid[1:5, 1:4] == 0).all()      # first image: black (-1)
    assert (grid[1:5, 5:8] == 128).all()    # second: mid grey (0 → 127.5 rounds to 128)
    assert (grid[6:10, 1:4] == 255).all()   # third, next row: white (+1)
    assert grid[0].max() == 0 and grid[:, 4].max() == 0  # padding stays dark


def test_grid_columns_make_a_near_square_grid():
    assert [grid_columns(n) for n in (1, 2, 4, 5, 16, 17, 64)] == [1, 2, 2, 3, 4, 5, 8]
