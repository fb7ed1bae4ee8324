#version 330 core
// The floor plane of the objects3d studio: one quad per view, drawn after the
// objects so that hidden floor pixels fail the depth test before shading.

layout(location = 0) in vec2 a_corner; // in [-1, 1]^2
layout(location = 6) in vec3 i_trans;
layout(location = 7) in vec3 i_spot;
layout(location = 8) in vec3 i_spot_rgb;
layout(location = 9) in vec3 i_floor_rgb;
layout(location = 10) in float i_layer;

uniform mat4 u_vp;
uniform vec2 u_floor; // height, half extent

out vec2 v_xz;
flat out vec3 f_spot;
flat out vec3 f_spot_axis;
flat out vec3 f_spot_rgb;
flat out vec3 f_floor_rgb;
flat out vec2 f_center;

void main() {
    vec3 p = vec3(a_corner.x * u_floor.y, u_floor.x, a_corner.y * u_floor.y);
    v_xz = p.xz;
    f_spot = i_spot;
    f_spot_axis = normalize(i_spot);
    f_spot_rgb = i_spot_rgb;
    f_floor_rgb = i_floor_rgb;
    f_center = i_trans.xz;
    gl_Position = u_vp * vec4(p, 1.0);
#ifdef RD_LAYERED
    gl_Layer = int(i_layer);
#endif
}
